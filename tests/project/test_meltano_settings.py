"""meltano.yml declares every setting as Meltano Hub plugins do, and says the same as the plugins.

Meltano shows `label` and `description` in `meltano config list`; a setting the file does not
declare is "Custom, possibly unsupported" there, and a custom plugin's undeclared setting is not
read from the environment. So: every setting of every plugin has a label and a description
that states its default; the names, secrecy, types, options, defaults and required settings of
our plugins equal what they report themselves (`--about --format json`, the installed
executables Meltano runs); every `config` value in the file belongs to a declared setting; and
the README's settings tables are the ones scripts/settings_tables.py derives from the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import settings_tables  # noqa: E402

PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
PLUGINS = settings_tables.plugins(PROJECT)
# our plugins: (meltano.yml name, the installed executable that reports its settings)
OURS = {
    "tap-cliniko": ROOT / ".meltano/extractors/tap-cliniko/venv/bin/tap-cliniko",
    "target-pipedrive": ROOT / ".meltano/loaders/target-pipedrive/venv/bin/target-pipedrive",
    "target-pipedrive--plan": ROOT / ".meltano/loaders/target-pipedrive/venv/bin/target-pipedrive-plan",
}
# Meltano 4.4 hands a `decimal` setting's value to its JSON encoder as a Decimal, which it cannot write (the run
# stops with a traceback): the plugins' numbers are declared `integer` (whole seconds and megabytes)
KINDS = {"string": "string", "integer": "integer", "number": "integer", "boolean": "boolean", "object": "object",
         "array": "array"}


def declared(name: str) -> list[dict[str, Any]]:
    """The settings Meltano gives a plugin: its parent's (inherit_from), then its own."""
    plugin = PLUGINS[name]
    parent = declared(plugin["inherit_from"]) if plugin.get("inherit_from") else []
    own = plugin.get("settings") or []
    return [s for s in parent if s["name"] not in {o["name"] for o in own}] + own


def group_validation(name: str) -> set[str]:
    plugin = PLUGINS[name]
    if "settings_group_validation" not in plugin and plugin.get("inherit_from"):
        return group_validation(plugin["inherit_from"])
    return settings_tables.required(plugin)


@pytest.fixture(scope="module")
def about() -> dict[str, dict[str, Any]]:
    out = {}
    for name, exe in OURS.items():
        if not exe.exists():
            pytest.fail(f"{exe} is missing: run `make install` (it runs `meltano install`)")
        done = subprocess.run([str(exe), "--about", "--format", "json"], capture_output=True, text=True, timeout=120,
                              check=True)
        out[name] = json.loads(done.stdout)["settings"]
    return out


def kind_of(prop: dict[str, Any]) -> str:
    """The Meltano kind a JSON-schema property asks for."""
    if prop.get("enum"):
        return "options"
    if prop.get("format") == "date-time":
        return "date_iso8601"
    types = [t for t in ([prop["type"]] if isinstance(prop.get("type"), str) else prop.get("type") or [])
             if t != "null"]
    return KINDS[types[0]]


def stated_default(value: Any) -> str:
    """How a description spells a default: booleans as in YAML, paths relative to the project."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).replace("$MELTANO_PROJECT_ROOT/", "").replace("$MELTANO_ENVIRONMENT", "<environment>")


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_every_setting_has_a_label_and_a_description_with_its_default(plugin: str) -> None:
    problems = []
    for s in PLUGINS[plugin].get("settings") or []:
        label, text = str(s.get("label") or "").strip(), str(s.get("description") or "").strip()
        if not label or not text:
            problems.append(f"{s['name']}: label and description are both needed")
        elif "default" not in text.lower():
            problems.append(f"{s['name']}: the description does not say its default")
        elif "value" in s and stated_default(s["value"]) not in text:
            problems.append(f"{s['name']}: the description does not state the default {stated_default(s['value'])!r}")
        if s.get("kind") == "options" and not s.get("options"):
            problems.append(f"{s['name']}: kind options without options")
    assert problems == [], f"{plugin} in meltano.yml: " + "; ".join(problems)


@pytest.mark.parametrize("plugin", sorted(OURS))
def test_declared_settings_are_the_plugins_own(plugin: str, about: dict[str, dict[str, Any]]) -> None:
    reported = about[plugin]["properties"]
    settings = {s["name"]: s for s in declared(plugin)}
    assert sorted(settings) == sorted(reported), (
        f"meltano.yml declares {sorted(set(settings) - set(reported))} that {plugin} does not have and misses "
        f"{sorted(set(reported) - set(settings))}")
    problems = []
    for name, prop in reported.items():
        s = settings[name]
        if bool(s.get("sensitive")) != bool(prop.get("secret")):
            problems.append(f"{name}: sensitive {bool(s.get('sensitive'))}, but secret {bool(prop.get('secret'))}")
        if s.get("kind") != kind_of(prop):
            problems.append(f"{name}: kind {s.get('kind')}, the plugin's type asks for {kind_of(prop)}")
        if prop.get("enum") and [o["value"] for o in s.get("options") or []] != prop["enum"]:
            problems.append(f"{name}: options {s.get('options')} are not {prop['enum']}")
        plain = "value" in s and "$" not in str(s["value"])
        if plain and "default" in prop and s["value"] != prop["default"]:
            problems.append(f"{name}: value {s['value']!r} but the plugin's default is {prop['default']!r}")
        if "default" in prop and "value" not in s and stated_default(prop["default"]) not in s["description"]:
            problems.append(f"{name}: the description does not state the plugin's default {prop['default']!r}")
    assert problems == [], f"{plugin}: " + "; ".join(problems)
    assert group_validation(plugin) == set(about[plugin].get("required") or []), "required settings differ"


def configs() -> list[tuple[str, str, dict[str, Any]]]:
    """(where, plugin, config) for the plugins' own `config` and every environment's."""
    out = [("plugins", name, p.get("config") or {}) for name, p in PLUGINS.items()]
    for env in PROJECT.get("environments") or []:
        for kind in ((env.get("config") or {}).get("plugins") or {}).values():
            out += [(f"environment {env['name']}", p["name"], p.get("config") or {}) for p in kind]
    return out


def test_every_configured_value_is_a_declared_setting() -> None:
    undeclared = [f"{where}: {plugin}.{key}" for where, plugin, config in configs() for key in config
                  if key not in {s["name"] for s in declared(plugin)}]
    assert undeclared == [], f"meltano.yml configures settings it does not declare: {undeclared}"


def test_readme_settings_tables_are_derived_from_meltano_yml() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marked = {m.group("plugin") for m in settings_tables.BLOCK.finditer(readme)}
    assert marked == set(settings_tables.TABLES), f"README.md marks tables for {sorted(marked)}"
    assert settings_tables.render(readme, PROJECT) == readme, (
        "README.md's settings tables differ from meltano.yml: run `.venv/bin/python scripts/settings_tables.py "
        "--write`")
