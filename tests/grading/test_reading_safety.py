"""Issue 17 items 19 and 21: answer files decoded as rosters are; JSON duplicate keys and
rosters with an unclosed quote are reported, not silently resolved."""
import pytest

from gradcalc.errors import GradcalcError
from gradcalc.grading.documents import read_document_bytes
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.roster import parse_roster
from gradcalc.variants.roster import parse_roster as parse_variant_roster

SCHEMA = QuantitySchema({"y": (), "h1": (2,)}, {"y": (), "h1": (2,)}, "L")


def test_utf16_answer_files_are_read_like_utf16_rosters():
    text = "student: 2026001\nname: 张三\nanswers:\n  y: 0.25\n"
    for raw in (text.encode("utf-16"), b"\xfe\xff" + text.encode("utf-16-be"),
                text.encode("gb18030"), b"\xef\xbb\xbf" + text.encode()):
        sub = read_document_bytes(raw, SCHEMA, "a.yaml")
        assert sub.unreadable is None, raw[:4]
        assert (sub.student, sub.name) == ("2026001", "张三")
        assert float(sub.answers["y"].value) == 0.25
    assert read_document_bytes(b"\xff\xfe\xfa", SCHEMA, "a.yaml").unreadable.startswith(
        "not a text file")


def test_json_duplicate_keys_are_rejected_as_yaml_ones_are():
    sub = read_document_bytes(b'{"student": "s1", "answers": {"y": 1, "y": 0.25}}', SCHEMA, "a.json")
    assert sub.unreadable == "duplicate key 'y'"
    sub = read_document_bytes(b'{"student": "s1", "student": "s2", "answers": {"y": 1}}',
                              SCHEMA, "a.json")
    assert sub.unreadable == "duplicate key 'student'"
    yaml_sub = read_document_bytes(b"student: s1\nanswers:\n  y: 1\n  y: 0.25\n", SCHEMA, "a.yaml")
    assert yaml_sub.unreadable.startswith("duplicate key")


def test_a_roster_with_an_unclosed_quote_is_an_error_naming_the_line():
    raw = b'Student,SIS User ID\nAda,s1\n"Bob,s2\nCy,s3\nDi,s4\n'
    with pytest.raises(GradcalcError) as e:
        parse_roster(raw, "r.csv")
    assert str(e.value) == "r.csv:3: a quoted cell is never closed (a '\"' without its partner)"
    with pytest.raises(GradcalcError) as e:
        parse_variant_roster(raw.decode(), "r.csv")
    assert str(e.value) == "r.csv:3: a quoted cell is never closed (a '\"' without its partner)"
    # a well-formed quoted cell with a comma and a line break is still fine
    ok = parse_roster(b'Student,SIS User ID\n"Lovelace,\nAda",s1\n', "r.csv")
    assert ok.rows == [["Lovelace,\nAda", "s1"]]


def test_a_config_file_is_not_an_answer_file_and_is_not_echoed():
    sub = read_document_bytes(b"root: x:0:0\ndaemon: '*:19000'\n", SCHEMA, "shadow.yaml")
    assert sub.unreadable == "not an answer file (no student id and no known quantity)"
    assert not sub.problems


def test_an_unreadable_subfolder_is_listed_with_its_reason(tmp_path, monkeypatch):
    """Item 6 without relying on permissions (root reads every folder)."""
    import os

    from gradcalc.grading import answerfiles
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "s1.yaml").write_text("student: s1\n")
    (tmp_path / "a" / "locked").mkdir()
    real = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(answerfiles.os, "scandir", scandir)
    files, skipped = answerfiles.find_answer_files([tmp_path / "a"])
    assert [p.name for p, _ in files] == ["s1.yaml"]
    assert skipped == [(str(tmp_path / "a" / "locked"), "cannot read the folder (Permission denied)")]


def test_a_duplicate_key_is_named_only_when_it_is_an_answer_files_own():
    assert read_document_bytes(b"{SECRET: 1, SECRET: 2}\n", SCHEMA, "a.yaml").unreadable == \
        "duplicate key (line 1)"
    assert read_document_bytes(b'{"SECRET": 1, "SECRET": 2}', SCHEMA, "a.json").unreadable == \
        "duplicate key"
