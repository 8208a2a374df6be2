"""The README's settings tables, derived from meltano.yml so they cannot drift from it.

`python scripts/settings_tables.py` prints them; `--write` replaces each table in README.md
between its `<!-- settings:PLUGIN -->` and `<!-- /settings -->` markers. tests/project checks
that README.md holds exactly what this prints.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# the Singer SDK's own settings: one line under the table instead of a row each
SDK_SETTINGS = ("stream_maps", "stream_map_config", "faker_config", "flattening_enabled", "flattening_max_depth",
                "flattening_max_key_length", "flattening_separator", "batch_config", "add_record_metadata",
                "load_method", "batch_size_rows")
# plugin -> the plugins whose own settings join its table (a plugin that inherits from it)
TABLES = {"tap-cliniko": (), "target-pipedrive": ("target-pipedrive--plan",)}
BLOCK = re.compile(r"(<!-- settings:(?P<plugin>[\w-]+) -->\n)(?P<body>.*?)(<!-- /settings -->)", re.DOTALL)


def plugins(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for kind in project["plugins"].values() for p in kind}


def required(plugin: dict[str, Any]) -> set[str]:
    return {name for group in plugin.get("settings_group_validation") or [] for name in group}


def row(setting: dict[str, Any], needed: set[str], owner: str | None) -> str:
    tags = [t for t, on in (("secret", setting.get("sensitive")), ("required", setting["name"] in needed)) if on]
    if owner:
        tags.append(owner)
    name = f"`{setting['name']}`" + (f" ({', '.join(tags)})" if tags else "")
    # `<environment>` would be read as an HTML tag by a Markdown renderer
    return f"| {name} | {setting['description'].replace('<', '&lt;')} |"


def table(project: dict[str, Any], name: str) -> str:
    every = plugins(project)
    plugin = every[name]
    needed = required(plugin)
    own = [(s, None) for s in plugin["settings"] if s["name"] not in SDK_SETTINGS]
    own += [(s, child) for child in TABLES[name] for s in every[child].get("settings") or []]
    lines = ["| setting | what it does (default) |", "|---|---|", *(row(s, needed, o) for s, o in own)]
    sdk = [f"`{s['name']}`" for s in plugin["settings"] if s["name"] in SDK_SETTINGS]
    env = name.upper().replace("-", "_")
    lines += ["", f"Each can also be set as `{env}_<SETTING>` in the environment or `.env`. Also declared, as "
              f"on Meltano Hub: the Singer SDK's {', '.join(sdk)} (`meltano --environment sandbox config list "
              f"{name} --all` describes each)."]
    return "\n".join(lines) + "\n"


def render(readme: str, project: dict[str, Any]) -> str:
    """README text with every marked table replaced by the one meltano.yml gives."""
    return BLOCK.sub(lambda m: m.group(1) + table(project, m.group("plugin")) + m.group(4), readme)


def main(argv: list[str]) -> int:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    if argv[1:] == ["--write"]:
        readme = ROOT / "README.md"
        readme.write_text(render(readme.read_text(encoding="utf-8"), project), encoding="utf-8")
        return 0
    if argv[1:]:
        print("usage: python scripts/settings_tables.py [--write]", file=sys.stderr)
        return 2
    for name in TABLES:
        print(f"<!-- settings:{name} -->\n{table(project, name)}<!-- /settings -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
