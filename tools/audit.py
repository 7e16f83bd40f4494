"""`make audit`: the pinned requirements checked against PyPI's vulnerability data by pip-audit.

pip-audit alone exits 0 when PyPI could not be asked about a package ("could not be audited"),
which reads like a clean result; this says plainly what was and was not audited:
exit 0 every pin audited and none vulnerable, 1 a known vulnerability, 2 some pins not audited
(the vulnerability service unreachable from here, or a package it does not know).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("requirements.txt", "requirements-dev.txt")


def main() -> int:
    command = [str(Path(sys.executable).parent / "pip-audit"), "--disable-pip", "--no-deps"]
    for name in FILES:
        command += ["-r", str(ROOT / name)]
    command += ["--progress-spinner", "off", "--format", "json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print("pip-audit did not answer: nothing was audited.", file=sys.stderr)
        print(run.stderr.strip()[-2000:], file=sys.stderr)
        return 2
    lines, code = summarise(report)
    print("\n".join(lines))
    return code


def summarise(report: dict) -> tuple[list[str], int]:
    """pip-audit's JSON report as lines to print, and the exit code (see the module)."""
    audited, skipped, vulnerable = [], [], []
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            skipped.append(dependency)
            continue
        audited.append(dependency)
        if dependency.get("vulns"):
            vulnerable.append(dependency)
    lines = []
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            lines.append(
                f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']}"
                f" (fixed in {fixes})"
            )
    lines.append(f"{len(audited)} pins audited, {len(vulnerable)} with known vulnerabilities.")
    if skipped:
        lines.append(
            f"NOT AUDITED: {len(skipped)} of {len(skipped) + len(audited)} pins could not be"
            " checked (PyPI's vulnerability data is not reachable from this machine, or does"
            " not know them):"
        )
        lines += [f"  {d['name']}: {d['skip_reason']}" for d in skipped]
    if vulnerable:
        return lines, 1
    return lines, 2 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
