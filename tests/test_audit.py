"""`make audit` (tools/audit.py) never reads as clean when pins went unchecked."""

from tools.audit import summarise


def dep(name, vulns=(), skip=None):
    if skip:
        return {"name": name, "skip_reason": skip}
    return {"name": name, "version": "1.0", "vulns": list(vulns)}


def test_pins_the_service_could_not_answer_for_are_named_and_fail_the_audit():
    lines, code = summarise(
        {"dependencies": [dep("flask"), dep("rq", skip="Dependency not found on PyPI")]}
    )
    assert code == 2
    assert "NOT AUDITED: 1 of 2 pins could not be checked" in "\n".join(lines)
    assert any(line.startswith("  rq: Dependency not found") for line in lines)


def test_a_known_vulnerability_is_named_with_its_fix_and_fails_the_audit():
    vuln = {"id": "PYSEC-2023-62", "fix_versions": ["2.3.2"]}
    lines, code = summarise({"dependencies": [dep("flask", [vuln]), dep("rq", skip="x")]})
    assert code == 1
    assert lines[0] == "VULNERABLE flask 1.0: PYSEC-2023-62 (fixed in 2.3.2)"


def test_every_pin_audited_and_none_vulnerable_passes():
    lines, code = summarise({"dependencies": [dep("flask"), dep("rq")]})
    assert (code, lines) == (0, ["2 pins audited, 0 with known vulnerabilities."])
