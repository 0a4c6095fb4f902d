// The threat-intel feed's indicators: known-bad addresses, domains and file hashes (documentation
// address ranges, .example domains: nothing real). The sensor's attacks come from these addresses.
import type { Indicator } from "./protocol.ts";

export const KNOWN_BAD_IP = "203.0.113.66";

export const INDICATORS: Omit<Indicator, "ttlMs">[] = [
  { kind: "ip", value: KNOWN_BAD_IP, severity: "critical", reason: "C2 server (APT-EXAMPLE)" },
  { kind: "ip", value: "198.51.100.23", severity: "high", reason: "mass scanner" },
  { kind: "ip", value: "198.51.100.77", severity: "high", reason: "brute-force source" },
  { kind: "ip", value: "192.0.2.200", severity: "medium", reason: "anonymiser exit node" },
  { kind: "domain", value: "update-check.evil.example", severity: "high", reason: "malware update domain" },
  { kind: "domain", value: "login-portal.phish.example", severity: "medium", reason: "credential phishing" },
  {
    kind: "hash",
    value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    severity: "critical",
    reason: "EICAR test file",
  },
];
