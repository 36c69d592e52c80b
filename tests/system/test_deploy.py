"""deploy/ matches this version of edgehub: every command, flag and EDGEHUB_* variable that
compose.yaml, the systemd units and their environment examples use is accepted by
``edgehub <command> --help``; the units pass ``systemd-analyze verify``; the Dockerfile copies what
exists. Docker does not run here, so this is how a renamed flag is caught before a site finds out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support import EDGEHUB, REPO

DEPLOY = REPO / "deploy"
SUBCOMMANDS = ("hub", "edge", "sim", "demo")


# -- a parser for the YAML subset compose.yaml is written in -----------------------------------------
def parse_yaml_subset(text: str) -> Any:
    """Block mappings and block lists by indentation, scalars plain or JSON-quoted, JSON flow values
    (``[...]``, ``{}``), whole-line comments. Anything else raises, so the file stays checkable."""
    lines: list[tuple[int, str, int]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: tab in indentation")
        lines.append((len(raw) - len(raw.lstrip(" ")), stripped, number))
    value, pos = _block(lines, 0, 0)
    if pos != len(lines):
        raise ValueError(f"line {lines[pos][2]}: unexpected indentation")
    return value


def _scalar(text: str, number: int) -> Any:
    if text[:1] in "[{\"":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not a JSON value: {text!r} ({exc})") from None
    if text[:1] in "'&*!|>%@`" or " #" in text:
        raise ValueError(f"line {number}: outside the subset: {text!r}")
    return text


def _block(lines: list[tuple[int, str, int]], pos: int, indent: int) -> tuple[Any, int]:
    if lines[pos][1].startswith("- "):
        items: list[Any] = []
        while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
            items.append(_scalar(lines[pos][1][2:].strip(), lines[pos][2]))
            pos += 1
        return items, pos
    mapping: dict[str, Any] = {}
    while pos < len(lines) and lines[pos][0] == indent:
        _, text, number = lines[pos]
        key, sep, rest = text.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", key) or (rest and not rest.startswith(" ")):
            raise ValueError(f"line {number}: expected 'key: value', got {text!r}")
        if key in mapping:
            raise ValueError(f"line {number}: duplicate key {key!r}")
        pos += 1
        if rest.strip():
            mapping[key] = _scalar(rest.strip(), number)
        elif pos < len(lines) and lines[pos][0] > indent:
            mapping[key], pos = _block(lines, pos, lines[pos][0])
        else:
            mapping[key] = None
    return mapping, pos


def test_the_subset_parser_reads_what_it_should_and_refuses_the_rest() -> None:
    doc = parse_yaml_subset('a: 1\nb:\n  # note\n  c: ["x", "--y"]\n  d:\n    - "p"\n    - q\ne: {}\n')
    assert doc == {"a": "1", "b": {"c": ["x", "--y"], "d": ["p", "q"]}, "e": {}}
    for bad in ("a: &anchor 1\n", "a: 'single'\n", "a: 1 # trailing\n", "a: |\n  text\n", "a:1\n",
                "a: 1\na: 2\n", "a:\n    b: 1\n  c: 2\n"):
        with pytest.raises(ValueError):
            parse_yaml_subset(bad)


# -- what this version of edgehub accepts ------------------------------------------------------------
def run_help(*argv: str) -> str:
    # A wide terminal, so that argparse wraps no option or variable name across lines.
    env = {**os.environ, "COLUMNS": "1000"}
    env = {k: v for k, v in env.items() if not k.startswith("EDGEHUB_")}  # defaults as shipped
    return subprocess.run([*EDGEHUB, *argv, "--help"], capture_output=True, text=True, cwd=REPO, check=True,
                          env=env).stdout


@cache
def help_text(command: str) -> str:
    return run_help(command) + run_help()


def accepted_flags(command: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text(command)))


def accepted_env(command: str) -> set[str]:
    return set(re.findall(r"\(env (EDGEHUB_[A-Z0-9_]+)", help_text(command)))


def read_outside_options(name: str) -> bool:
    """A variable that no option names but the code reads directly (e.g. EDGEHUB_JWT_SECRET)."""
    return any(name in p.read_text() for pkg in ("hub", "edge", "edgehub") for p in (REPO / pkg).rglob("*.py"))


def check_invocation(argv: list[str], where: str) -> list[str]:
    """Problems with one ``edgehub ...`` argument list (without the program name)."""
    if not argv or argv[0] not in SUBCOMMANDS:
        return [f"{where}: {argv[:1]} is not an edgehub command ({', '.join(SUBCOMMANDS)})"]
    flags = accepted_flags(argv[0])
    problems = []
    for arg in argv[1:]:
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            if flag not in flags:
                problems.append(f"{where}: `edgehub {argv[0]}` has no option {flag}")
    # Every option here takes exactly one value, so the arguments after the command come in pairs.
    pairs = [a for a in argv[1:] if not a.startswith("--") or "=" in a]
    switches = {"--quiet", "--fresh"}
    expected = sum(1 for a in argv[1:] if a.startswith("--") and "=" not in a and a not in switches)
    if len(pairs) != expected:
        problems.append(f"{where}: option values do not pair up in {argv}")
    return problems


def check_env(command: str, names: list[str], where: str) -> list[str]:
    known = accepted_env(command)
    return [f"{where}: `edgehub {command}` reads no {name}" for name in names
            if name.startswith("EDGEHUB_") and name not in known and not read_outside_options(name)]


def test_the_checker_catches_a_renamed_flag_and_an_unknown_variable() -> None:
    assert check_invocation(["edge", "--mqtt-url", "mqtt://x:1"], "t") == []
    renamed = check_invocation(["edge", "--broker-url", "mqtt://x:1"], "t")
    assert renamed == ["t: `edgehub edge` has no option --broker-url"]
    assert check_invocation(["edge", "--hub-ca"], "t") == ["t: option values do not pair up in ['edge', '--hub-ca']"]
    assert check_invocation(["broker"], "t")
    assert check_env("hub", ["EDGEHUB_TLS_CERT", "EDGEHUB_JWT_SECRET"], "t") == []
    assert check_env("hub", ["EDGEHUB_TLS_CRT"], "t") == ["t: `edgehub hub` reads no EDGEHUB_TLS_CRT"]


# -- compose.yaml --------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    doc = parse_yaml_subset((DEPLOY / "compose.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_runs_mosquitto_hub_edge_and_simulator() -> None:
    services = compose()["services"]
    assert {"mosquitto", "hub", "edge", "simulator"} <= set(services)
    edgehub_services = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("edgehub")}
    assert {s["command"][0] for s in edgehub_services.values()} == {"hub", "edge", "sim"}
    assert services["hub"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    for name, s in services.items():
        for volume in s.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and "secrets/" not in source:  # secrets are made on site
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"


def test_every_edgehub_command_flag_and_variable_in_compose_is_accepted() -> None:
    problems: list[str] = []
    for name, s in compose()["services"].items():
        if not str(s.get("image", "")).startswith("edgehub"):
            continue
        command = s["command"]
        assert isinstance(command, list), f"{name}: command must be a [...] list"
        problems += check_invocation(command, f"compose {name}")
        problems += check_env(command[0], list(s.get("environment") or {}), f"compose {name}")
    assert not problems, "\n".join(problems)


def test_the_compose_broker_config_is_the_shipped_one() -> None:
    volumes = compose()["services"]["mosquitto"]["volumes"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in volumes}
    assert mounts["/etc/mosquitto/mosquitto.conf"] == "./mosquitto/mosquitto.conf"
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for path in re.findall(r"^(?:password_file|acl_file|cafile|certfile|keyfile) (\S+)$", conf, re.M):
        assert path in mounts, f"mosquitto.conf reads {path}, which compose.yaml does not mount"
    persistence = re.search(r"^persistence_location (\S+)$", conf, re.M)
    assert persistence and any(v.endswith(":" + persistence.group(1).rstrip("/")) for v in volumes)


# -- systemd units -------------------------------------------------------------------------------------
UNITS = {"edgehub-hub.service": ("hub", "hub.env.example"), "edgehub-edge.service": ("edge", "edge.env.example")}


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def env_file_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.strip().lstrip("#")
        if re.match(r"EDGEHUB_[A-Z0-9_]+=", line):
            names.append(line.split("=", 1)[0])
    return names


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_systemd_unit_runs_an_accepted_command_with_hardening(unit: str) -> None:
    command, env_example = UNITS[unit]
    settings = unit_settings(DEPLOY / "systemd" / unit)
    (exec_start,) = settings["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/edgehub/venv/bin/edgehub"
    assert check_invocation(argv[1:], unit) == []
    assert argv[1] == command
    state_dir = settings["StateDirectory"][0]
    assert argv[argv.index("--data-dir") + 1] == f"/var/lib/{state_dir}"
    assert settings["Restart"] == ["on-failure"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": ""}.items():
        assert settings.get(key) == [value], f"{unit}: {key}={value} expected"
    assert settings["User"] != ["root"]
    (env_file,) = settings["EnvironmentFile"]
    assert env_file == f"/etc/edgehub/{env_example.removesuffix('.example')}"
    names = env_file_names(DEPLOY / "systemd" / env_example)
    assert names and check_env(command, names, env_example) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing_but_the_missing_install() -> None:
    units = [str(DEPLOY / "systemd" / u) for u in sorted(UNITS)]
    out = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    unexpected = [ln for ln in lines if "/opt/edgehub/venv/bin/edgehub is not executable" not in ln]
    assert not unexpected, "\n".join(unexpected)


# -- Dockerfile -----------------------------------------------------------------------------------------
def test_the_dockerfile_copies_what_exists_and_runs_unprivileged() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {ln[1:].removesuffix("/**") for ln in ignore if ln.startswith("!")}
    stages = re.findall(r"^FROM \S+(?: AS (\w+))?$", dockerfile, re.M)
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
            assert source in kept, f"Dockerfile copies {source}, which Dockerfile.dockerignore leaves out"
    runtime = dockerfile.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER (?!root)\S+$", runtime, re.M), "the runtime stage must not run as root"
    assert 'ENTRYPOINT ["edgehub"]' in runtime
