# zmq-labs launcher for Windows PowerShell (5.1 and 7+): checks Node, makes sure the dependencies
# are installed (packages/kit/bin/bootstrap.mjs: finds or installs pnpm only when an install is
# due, says one line per step, never waits on a prompt), then hands over to the kit's CLI
# (packages/kit/src/cli.ts), which does the real work. The twin of run.sh: same subcommands, same
# bootstrap. `.\run.ps1 help` for usage.
$ErrorActionPreference = 'Stop'
# Relative paths the user gives a role (--files .\x.bin) are relative to where the user is.
if (-not $env:ZLABS_USER_CWD) { $env:ZLABS_USER_CWD = (Get-Location).ProviderPath }
Set-Location -LiteralPath $PSScriptRoot

function Fail([string]$message) {
    [Console]::Error.WriteLine("run.ps1: $message")
    exit 1
}

if (-not (Get-Command node -ErrorAction SilentlyContinue)) { Fail 'Node.js 20.19 or newer is needed (https://nodejs.org)' }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
if ($LASTEXITCODE -ne 0) { Fail "Node.js 20.19 or newer is needed; this is $(node --version)" }
[Console]::Error.WriteLine("run.ps1: node $(node --version)")

if ($args.Count -gt 0 -and $args[0] -eq 'install') {
    node packages/kit/bin/bootstrap.mjs run.ps1 --force
    exit $LASTEXITCODE
}
node packages/kit/bin/bootstrap.mjs run.ps1
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

$env:PATH = (Join-Path $PSScriptRoot 'node_modules\.bin') + [IO.Path]::PathSeparator + $env:PATH
& node packages/kit/bin/zlabs.mjs @args
exit $LASTEXITCODE
