"""Every secret this repository publishes (a literal given as a session or AMI secret in its tests,
benchmarks, docs or configuration) is refused by a running engine, as docs/security.md says: the
go-live trial started an engine with a web test's 36-byte session secret and with the tests' AMI
secret ``test-secret``. A secret of no more than a handful of characters repeated (``"s" * 40``) is
refused as a session secret too. Tests that run an engine generate theirs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from cti.credentials import check_secrets
from cti.errors import ConfigError
from cti.settings import PROJECT_ROOT, Settings, load_settings

# `session_secret: "..."`, `"secret": "..."`, `secret="..."`, `CTI_..._SECRET=...` (not a `*_SECRET_ENV`
# variable's name).
_LITERAL = re.compile(r"""(?:session_secret|\bsecret|_SECRET(?![A-Z_]*_ENV)[A-Z_]*|webhook_key)["']?\s*[:=]\s*"""
                      r"""f?["']([^"'{}$<>]{3,})["']""")
_WHERE = ("tests", "bench", "docs", "config", "scripts", "README.md")
_SELF = Path(__file__).resolve()
_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".conf", ".xml", ".json"}


def published() -> dict[str, str]:
    """Each literal secret of the repository, with the first place it appears."""
    found: dict[str, str] = {}
    for name in _WHERE:
        base = PROJECT_ROOT / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix in _SUFFIXES)
        for path in files:
            if path.resolve() == _SELF:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                for m in _LITERAL.finditer(line):
                    value = m.group(1)
                    if not re.fullmatch(r"CTI_[A-Z_]+", value):  # an environment variable's name
                        found.setdefault(value, f"{path.relative_to(PROJECT_ROOT)}:{number}")
    return found


def _settings(tmp_path: Path, *, session: str, ami: str) -> Settings:
    return load_settings(state_dir=tmp_path).model_copy(update={
        "web": load_settings().web.model_copy(update={"session_secret": SecretStr(session)}),
        "ami": load_settings().ami.model_copy(update={"secret": SecretStr(ami)})})


def test_the_scan_finds_what_it_looks_for() -> None:
    found = published()
    assert "dev-only-secret-change-me" in found and "change-me" in found  # the refusal tests' own values
    assert len(found) >= 5, found


def test_every_secret_the_repository_publishes_is_refused(tmp_path: Path) -> None:
    good = "Zq8" + "x7PmW2kR9vN4tY6uB1cE5dF0gH3jL8sA"  # the shape of a generated one
    accepted = []
    for value, where in published().items():
        for session, ami in ((value, good), (good, value)):
            try:
                check_secrets(_settings(tmp_path, session=session, ami=ami))
            except ConfigError:
                continue
            accepted.append(f"{where}: {value!r} as the {'session' if session == value else 'AMI'} secret")
    assert accepted == [], "published secrets a running engine accepts:\n" + "\n".join(accepted)


@pytest.mark.parametrize("weak", ["s" * 40, "ab" * 20, "0123456" * 6])
def test_a_session_secret_of_few_distinct_characters_is_refused(weak: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"web\.session_secret"):
        check_secrets(_settings(tmp_path, session=weak, ami="Zq8x7PmW2kR9vN4tY6uB1cE5dF0gH3jL8sA"))
