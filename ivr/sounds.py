"""Which sound files Asterisk can play: an index over a sounds directory (``<lang>/<name>.<ext>``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SoundIndex:
    """Sounds under ``root`` (Asterisk's ``<astdatadir>/sounds``). ``chroot`` is the root file system
    the paths live in: absolute symlinks (Debian's ``en -> /etc/alternatives/...``) resolve inside it."""

    root: Path
    chroot: Path | None = None
    _cache: dict[str, frozenset[str]] = field(default_factory=dict)

    def language_dir(self, language: str) -> Path | None:
        """Where ``<root>/<language>`` really is (symlinks followed inside the chroot)."""
        return self._resolve(self.root / language)

    def names(self, language: str) -> frozenset[str]:
        if language not in self._cache:
            base = self.language_dir(language)
            found: set[str] = set()
            if base is not None and base.is_dir():
                for p in base.rglob("*"):
                    if p.is_file() or p.is_symlink():
                        rel = p.relative_to(base).with_suffix("")
                        found.add(rel.as_posix())
            self._cache[language] = frozenset(found)
        return self._cache[language]

    def exists(self, name: str, language: str) -> bool:
        # Asterisk falls back to the "en" sounds when a file is missing in the channel's language.
        return name in self.names(language) or name in self.names("en")

    def missing_in(self, name: str, languages: list[str] | tuple[str, ...]) -> list[str]:
        """The ``languages`` in which ``name`` cannot be played (none there, and none in "en")."""
        return [lang for lang in languages if not self.exists(name, lang)]

    def not_found(self, name: str, languages: list[str] | tuple[str, ...]) -> str:
        """How every check words a missing sound: ``sound 'x' not found in <root>/en or <root>/zh``."""
        return f"sound '{name}' not found in " + " or ".join(f"{self.root}/{lang}" for lang in languages)

    def _resolve(self, path: Path) -> Path | None:
        for _ in range(10):
            if not path.is_symlink():
                return path
            target = Path(path.readlink()) if hasattr(path, "readlink") else path.resolve()
            if target.is_absolute():
                path = (self.chroot / str(target).lstrip("/")) if self.chroot else target
            else:
                path = path.parent / target
        return None
