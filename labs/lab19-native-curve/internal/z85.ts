import { type Checked, ok, refuse } from "@zlabs/kit";

/**
 * Z85 (RFC 32/Z85): the text form of CURVE keys. Four bytes, read as one big-endian u32, become
 * five base-85 digits, most significant first. A 32-byte key is 40 characters.
 *
 * The alphabet holds shell metacharacters (`$ & ( ) < > ! * ? [ ] { } ^ #`): quote keys in a
 * shell with single quotes (see `shellQuote` in keys.ts).
 */
export const Z85_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/** 85 ** 5 - 1 exceeds 2 ** 32 - 1: a 5-character group may name a value no 4 bytes can hold. */
const MAX_GROUP = 0xffffffff;

/** Character code -> digit, or -1 for a character outside the alphabet. */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < Z85_ALPHABET.length; i++) DIGIT[Z85_ALPHABET.charCodeAt(i)] = i;

/**
 * Encodes bytes as Z85. The length must be a multiple of 4 (as zmq_z85_encode requires; RFC 32
 * leaves padding to the application), else RangeError. Empty input gives "" (libzmq does the same).
 */
export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new RangeError(`z85: ${data.length} bytes is not a multiple of 4`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let out = "";
  for (let offset = 0; offset < data.length; offset += 4) {
    let value = view.getUint32(offset, false);
    const group = new Array<string>(5);
    for (let i = 4; i >= 0; i--) {
      group[i] = Z85_ALPHABET[value % 85] as string;
      value = Math.floor(value / 85);
    }
    out += group.join("");
  }
  return out;
}

/**
 * Decodes Z85 text. Text comes from people and files, so this does not throw: it returns a
 * `Checked<Buffer>` (the kit's `{ok:true,value}|{ok:false,reason}`), refusing what libzmq's
 * zmq_z85_decode refuses (checked against libzmq 4.3.4 through ctypes):
 * - a length that is not a positive multiple of 5 (the empty string too: libzmq returns NULL);
 * - a character outside the alphabet (space, quote, backslash, comma, semicolon, `_`, `|`, `~`,
 *   anything above 0x7E);
 * - a 5-character group whose value exceeds 0xFFFFFFFF ("%nSc0" is the largest; "#####" overflows).
 * Reasons name positions, never the group's text: the text may be a secret key.
 * The output buffer is sized exactly (text length / 5 * 4) before any digit is read.
 */
export function z85Decode(text: string): Checked<Buffer> {
  if (text.length === 0 || text.length % 5 !== 0) {
    return refuse(`z85: length ${text.length} is not a positive multiple of 5`);
  }
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let group = 0; group < text.length / 5; group++) {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const at = group * 5 + i;
      const code = text.charCodeAt(at);
      const digit = code < 128 ? (DIGIT[code] as number) : -1;
      if (digit < 0) return refuse(`z85: character ${JSON.stringify(text[at])} at ${at} is outside the alphabet`);
      value = value * 85 + digit; // at most 85**5 - 1 < 2**53: exact in a double
    }
    if (value > MAX_GROUP) return refuse(`z85: group ${group} (characters ${group * 5}..${group * 5 + 4}) exceeds 0xFFFFFFFF`);
    out.writeUInt32BE(value, group * 4);
  }
  return ok(out);
}
