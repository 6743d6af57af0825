import pytest

from annctl.yamlsafe import MAX_ALIASES, YamlProblem, dump, parse


def test_yaml_12_numbers_and_booleans():
    data = parse("a: 1e-3\nb: 3.0e-4\nc: no\nd: true\ne: 010\nf: .inf\ng: ~\nh: 0x1f\n").data
    assert data == {"a": 0.001, "b": 0.0003, "c": "no", "d": True, "e": 10, "f": float("inf"), "g": None, "h": 31}


def test_positions_are_recorded_for_keys_and_items():
    document = parse("training:\n  epochs: 3\n  units: [1, 2]\n")
    assert document.marks[("training", "epochs")] == (2, 3)
    assert document.position(("training", "missing_field")) == (1, 1)
    assert document.marks[("training", "units", 1)][0] == 3


def test_duplicate_keys_are_rejected_with_both_lines():
    with pytest.raises(YamlProblem, match=r"duplicate key 'epochs' \(first at line 2\)") as info:
        parse("training:\n  epochs: 3\n  epochs: 4\n")
    assert info.value.line == 3


@pytest.mark.parametrize("text", ["a: !!python/object:os.system x\n", "a: !!python/name:os.system\n", "a: !custom 1\n"])
def test_python_and_custom_tags_are_refused(text):
    with pytest.raises(YamlProblem, match="tag"):
        parse(text)


def test_alias_bomb_fails_fast():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]")
    with pytest.raises(YamlProblem, match=f"more than {MAX_ALIASES} aliases|more than .* values"):
        parse("\n".join(lines))


def test_deep_nesting_fails_cleanly():
    with pytest.raises(YamlProblem, match="nested deeper"):
        parse("a: " + "[" * 5000 + "]" * 5000)


def test_merge_keys_are_refused():
    with pytest.raises(YamlProblem, match="merge keys"):
        parse("base: &b {x: 1}\nother:\n  <<: *b\n")


def test_huge_file_and_huge_number():
    with pytest.raises(YamlProblem, match="larger than"):
        parse("a: " + "x" * (2 << 20))
    with pytest.raises(YamlProblem, match="bad number"):
        parse("a: " + "9" * 5000)


def test_syntax_error_has_position():
    with pytest.raises(YamlProblem, match="YAML syntax") as info:
        parse("a: [1, 2\nb: 3\n")
    assert info.value.line >= 1


def test_control_characters_are_a_yaml_problem_not_a_crash():
    """Regression (found by the fuzz test): PyYAML's reader raised ReaderError before parsing started."""
    with pytest.raises(YamlProblem, match="not YAML text") as info:
        parse("name: t\nseed: 1\x01\n")
    assert info.value.line == 2


def test_dump_is_read_back_unchanged():
    """PyYAML's dumper follows YAML 1.1, so it left `1e3` and `0o17` plain, and `parse` (YAML 1.2) read them
    back as numbers: a run named `1e3` wrote a spec.yaml that no longer validated."""
    strings = ["1e3", "1.5e3", "0o17", "0x1f", "1_000", "yes", "no", "on", "true", "null", "~", ".inf", "-.nan", "+1"]
    data = {"name": "1e3", "strings": strings, "numbers": [1, -2, 0.001, 1e-05, 1e300, float("inf"), True, None]}
    text = dump(data)
    assert parse(text).data == data
    assert text.startswith("name: '1e3'\n")
