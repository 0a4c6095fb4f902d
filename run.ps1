# zmq-labs launcher for Windows PowerShell (5.1 and 7+): makes sure pnpm and the dependencies are
# there, then hands over to the kit's CLI (packages/kit/src/cli.ts), which does the real work.
# The twin of run.sh: same subcommands, same bootstrap. `.\run.ps1 help` for usage.
$ErrorActionPreference = 'Stop'
Set-Location -LiteralPath $PSScriptRoot

function Fail([string]$message) {
    [Console]::Error.WriteLine("run.ps1: $message")
    exit 1
}

if (-not (Get-Command node -ErrorAction SilentlyContinue)) { Fail 'Node.js 20.19 or newer is needed (https://nodejs.org)' }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
if ($LASTEXITCODE -ne 0) { Fail "Node.js 20.19 or newer is needed; this is $(node --version)" }

$pnpmVersion = node -p 'require("./package.json").packageManager.split("@")[1]'
$localPnpm = Join-Path $PSScriptRoot '.tools\pnpm\node_modules\.bin\pnpm.cmd'

# pnpm: the one on PATH if it is version 10 or newer, else corepack's, else a private copy under .tools\.
function Find-Pnpm {
    $onPath = Get-Command pnpm -ErrorAction SilentlyContinue
    if ($onPath) {
        $major = 0
        [void][int]::TryParse(((& pnpm --version 2>$null) -split '\.')[0], [ref]$major)
        if ($major -ge 10) { return @('pnpm') }
    }
    if (Test-Path -LiteralPath $localPnpm) { return @($localPnpm) }
    if (Get-Command corepack -ErrorAction SilentlyContinue) {
        $env:COREPACK_ENABLE_DOWNLOAD_PROMPT = '0'
        & corepack pnpm --version *> $null
        if ($LASTEXITCODE -eq 0) { return @('corepack', 'pnpm') }
    }
    [Console]::Error.WriteLine("run.ps1: installing pnpm $pnpmVersion into .tools\ (once)")
    & npm install --prefix .tools/pnpm --no-audit --no-fund --loglevel=error "pnpm@$pnpmVersion"
    if ($LASTEXITCODE -ne 0) { Fail 'could not install pnpm with npm' }
    return @($localPnpm)
}

# Install when node_modules is missing or older than the lockfile (or the package.json files).
$stamp = 'node_modules\.zlabs-installed'
function Test-NeedsInstall {
    if ($env:CI -eq 'true' -or -not (Test-Path -LiteralPath $stamp)) { return $true }
    $since = (Get-Item -LiteralPath $stamp).LastWriteTime
    $inputs = @(Get-Item pnpm-lock.yaml, package.json) + @(Get-ChildItem labs\*\package.json, packages\*\package.json)
    return [bool]($inputs | Where-Object { $_.LastWriteTime -gt $since } | Select-Object -First 1)
}

$pnpm = @(Find-Pnpm)
if (Test-NeedsInstall) {
    [Console]::Error.WriteLine('run.ps1: installing dependencies')
    $installArgs = @('install')
    if ($env:CI -eq 'true') { $installArgs += '--frozen-lockfile' }
    $rest = @($pnpm | Select-Object -Skip 1)
    & $pnpm[0] @rest @installArgs
    if ($LASTEXITCODE -ne 0) { Fail 'pnpm install failed' }
    New-Item -ItemType File -Force -Path $stamp | Out-Null
}

$env:PATH = (Join-Path $PSScriptRoot 'node_modules\.bin') + [IO.Path]::PathSeparator + $env:PATH
& node packages/kit/bin/zlabs.mjs @args
exit $LASTEXITCODE
