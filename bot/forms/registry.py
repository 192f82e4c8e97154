"""Builtin forms, kept as YAML beside this module."""

from __future__ import annotations

from importlib import resources

import yaml

from bot.forms.schema import FormDefinition


def load_form_yaml(text: str) -> FormDefinition:
    return FormDefinition.model_validate(yaml.safe_load(text))


def load_builtin_forms() -> dict[str, FormDefinition]:
    forms: dict[str, FormDefinition] = {}
    folder = resources.files("bot.forms") / "builtin"
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            form = load_form_yaml(entry.read_text(encoding="utf-8"))
            forms[form.key] = form
    return forms
