import json

import pytest
from typer.testing import CliRunner

from lookout.cli import app
from lookout.registry import gbcode


def test_parse_splits_the_five_parts():
    g = gbcode.parse("34020000001320000001")
    assert g.parts() == {"division": "34020000", "industry": "00", "type": "132", "network": "0", "serial": "000001"}
    assert g.type_name == "IPC"


@pytest.mark.parametrize("code,part", [
    ("3402000000132000001", "code"),        # 19 digits
    ("340200000013200000A1", "serial"),     # a letter in the serial
    ("34020000001X20000001", "type"),       # a letter in the type
    ("99020000001320000001", "division"),   # no province 99
    ("34020000009990000001", "type"),       # unknown type 999
    ("34020000001329000001", "network"),    # network 9 is reserved
])
def test_errors_name_the_bad_part(code, part):
    with pytest.raises(gbcode.GBCodeError) as e:
        gbcode.parse(code)
    assert e.value.part == part


def test_next_free_skips_used_serials():
    used = ["50015600001328000001", "50015600001328000007", "50015600001188000009"]
    assert gbcode.next_free("50015600", "132", used) == "50015600001328000008"
    assert gbcode.next_free("500156", "118", used) == "50015600001188000010"
    assert gbcode.is_valid(gbcode.next_free("500156", "132", []))


def test_cli_contract():
    r = CliRunner().invoke(app, ["gbcode", "check", "34020000001320000001", "--json"])
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["valid"] is True and out["parts"]["type"] == "132" and out["error"] == ""
    r = CliRunner().invoke(app, ["gbcode", "check", "3402000000132000001", "--json"])
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["valid"] is False and "20 digits" in out["error"]
    assert set(out["parts"]) == {"division", "industry", "type", "network", "serial"}
