"""Every kind of mistake in a ``.nas`` file: one located NasError in the one format.

Each case is a small file, the ``line:col`` the error must point at, and words
its message must hold.  The rendered error must be
``file:line:col: error: message``, then the source line, then a caret under
the column.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nasdsl import NasError, Space
from nasdsl.errors import Span

FILE = "spaces/broken.nas"


def net(*body: str, params: str = "C = 16", dims: str = "[3, 8, 8]", ret: str = "global_avg_pool -> linear(10)") -> str:
    """A network around some statements: line 1 'network', line 2 'input', the statements from line 3."""
    lines = [f"network n({params}) {{", f"    input {dims}"] + [f"    {s}" for s in body]
    return "\n".join(lines + [f"    return {ret}", "}", ""])


def located(text: str, line: int, col: int, *words: str, file: str = FILE, **kw) -> NasError:
    """Compile ``text``: it must fail at ``line:col`` with all ``words`` in the message, rendered in full."""
    with pytest.raises(NasError) as info:
        Space.from_text(text, file=file, **kw)
    err = info.value
    assert type(err) is NasError
    rendered = str(err)
    assert (err.span.line, err.span.column) == (line, col), rendered
    for w in words:
        assert w in err.message, f"{w!r} not in the message:\n{rendered}"
    head, shown, caret = rendered.split("\n")
    message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in err.message)  # control characters escaped
    assert head == f"{file}:{line}:{col}: error: {message}"
    source = text.split("\n")[line - 1].removesuffix("\r")
    assert shown == "    " + "".join(c if c.isprintable() or c == "\t" else " " for c in source)
    assert caret.startswith("    ") and caret[4:].index("^") == col - 1, rendered
    assert set(caret[4:].strip()) <= {"^", "~"}, rendered
    return err


# ---------------------------------------------------------------- cases
# (id, text, line, col, words)

SYNTAX = [
    ("unexpected-token", net("x = conv_3x3(C,, 2)"), 3, 20, ["unexpected ','", "expected"]),
    ("mismatched-bracket", net("x = sum(input, relu]"), 3, 24, ["unexpected ']'", "')'"]),
    ("unexpected-end-of-file", "network n(C = 16) {\n    input [3, 8, 8]\n    x = conv_3x3(", 3, 18,
     ["unexpected end of file", "expected"]),
    ("end-of-file-after-comment", "network n(C = 16) {\n    input [3, 8, 8]  # the image\n\n", 2, 20,
     ["unexpected end of file", "'}'"]),
    ("bad-character", net("x = conv_3x3(C) $ relu"), 3, 21, ["unexpected character '$'"]),
    ("bad-character-after-crlf", "network n() {\r\n    input [3, 8, 8]\r\n    x = relu ?\r\n}\r\n", 3, 14,
     ["unexpected character '?'"]),
    ("stray-top-level", "x = relu\n", 1, 1, ["unexpected 'x'", "'network'"]),
]

NAMES = [
    ("unknown-op-did-you-mean", net("x = sep_conv3x3"), 3, 9,
     ["unknown op", "'sep_conv3x3'", "did you mean 'sep_conv_3x3'?"]),
    ("unknown-op-in-op-set", "ops o = [skip_connect, sep_conv3x3]\n" + net("x = one of o"), 1, 24,
     ["'sep_conv3x3'", "did you mean 'sep_conv_3x3'?"]),
    ("unknown-op-after-arrow", net("x = input -> relu -> sep_conv3x3(16)"), 3, 26,
     ["'sep_conv3x3'", "did you mean 'sep_conv_3x3'?"]),
    ("undefined-name", net("x = sum(foo, input)"), 3, 13, ["unknown", "'foo'"]),
    ("undefined-candidate", net("x = sum(pick 1 of [input, hidden])"), 3, 31, ["unknown", "'hidden'"]),
    ("undefined-indexed-name", net("x = y[0]"), 3, 9, ["undefined name 'y'"]),
    ("duplicate-definition", "ops a = [relu]\nops a = [relu]\n" + net(), 2, 1,
     ["duplicate definition 'a'", f"first defined at {FILE}:1:1"]),
    ("duplicate-network", net() + net(), 5, 1, ["duplicate definition 'n'"]),
    ("redefine-builtin", "cell relu(x) { return x }\n" + net(), 1, 1, ["'relu'", "built-in"]),
    ("duplicate-statement-name", net("x = relu", "x = conv_3x3"), 4, 5, ["duplicate name 'x'"]),
    ("duplicate-name-in-cell", "cell c(h) {\n    y = relu\n    y = relu\n    return y\n}\n" + net("x = c"), 3, 5,
     ["duplicate name 'y'"]),
    ("duplicate-parameter", net(params="C = 16, C = 32"), 1, 19, ["duplicate parameter 'C'"]),
    ("duplicate-hyperparameter", net("hp lr = {1, 2}", "hp lr = {3, 4}"), 4, 5, ["duplicate hyperparameter 'lr'"]),
    ("loop-variable-hides-parameter", net("for C in range(2) { y[C] = relu }"), 3, 5,
     ["loop variable 'C'", "hides"]),
]

ARGUMENTS = [
    ("op-too-many-arguments", net("x = conv_3x3(16, 1, 1, 1, 1)"), 3, 31,
     ["op 'conv_3x3' takes at most 4 arguments", "5 given"]),
    ("op-missing-argument", net(ret="global_avg_pool -> linear"), 3, 31, ["op 'linear' needs argument 'out'"]),
    ("op-unknown-argument", net("x = conv_3x3(16, kernel = 5)"), 3, 22,
     ["op 'conv_3x3' has no argument 'kernel'", "channels, stride"]),
    # the caret is under the argument whose value is wrong, not under the whole call
    ("op-bad-argument-value", net("x = conv_3x3(16, stride = 0)"), 3, 22, ["'stride'", "positive integer"]),
    ("op-bad-positional-value", net("x = conv_3x3(0)"), 3, 18, ["'channels'", "positive integer"]),
    ("op-set-unknown-argument", "ops o = [relu, max_pool_3x3]\n" + net("x = o(channels = 8)"), 4, 11,
     ["no op of op set 'o'", "'channels'"]),
    ("cell-too-many-arguments", "cell c(a, b) { return sum(a, b) }\n" + net("x = c(input, input, input)"), 4, 9,
     ["cell 'c' takes 2 arguments (a, b)", "3 given"]),
    ("cell-too-few-arguments", "cell c(a, b) { return sum(a, b) }\n" + net("x = c"), 4, 9,
     ["cell 'c' takes 2 arguments (a, b)", "0 given, plus the tensor it is applied to"]),
    ("cell-keyword-argument", "cell c(a) { return a }\n" + net("x = c(a = input)"), 4, 11, ["positional"]),
    ("division-by-zero", net("x = conv_3x3(C / 0)"), 3, 18, ["division by zero"]),
    ("modulo-by-zero", net("x = conv_3x3(C % (C - 16))"), 3, 18, ["division by zero"]),
    ("number-too-large", net("x = conv_3x3(99999999999999999999)"), 3, 18, ["number '99999999999999999999' is too large"]),
    ("number-not-finite", net("hp lr = uniform(1e-4, 1e999)"), 3, 27, ["number '1e999' is too large"]),
]

STRUCTURE = [
    ("cycle-direct", "cell a(x) { return x -> a }\n" + net("y = a"), 1, 25, ["cycle", "cell 'a' uses itself", "a -> a"]),
    ("cycle-through-another-cell", "cell a(x) { return x -> b }\ncell b(x) { return x -> a }\n" + net("y = a"), 2, 25,
     ["cycle", "a -> b -> a"]),
    ("cycle-op-set", "ops a = [relu, b]\nops b = [a]\n" + net("y = one of a"), 2, 10,
     ["cycle", "op set 'a' contains itself", "a -> b -> a"]),
    ("sum-channel-mismatch", net("x = sum(input -> conv_3x3(16), input -> conv_3x3(32))"), 3, 9,
     ["cannot sum", "[16, 8, 8]", "[32, 8, 8]"]),
    ("concat-shape-mismatch", net("f = global_avg_pool", "x = concat(f, input)"), 4, 9,
     ["cannot concat", "[3]", "[3, 8, 8]"]),
    ("merge-tensor-twice", net("x = concat(input, input)"), 3, 23, ["'input' twice"]),
    ("merge-candidate-twice", net("a = relu", "x = sum(a, any subset of [a, input])"), 4, 16, ["'a' twice"]),
    ("merge-one-tensor-under-two-names", net("v = repeat {0, 1} { relu }", "x = sum(v, input)"), 4, 16,
     ["'input' and 'v' are the same tensor"]),
    ("candidates-one-tensor-under-two-names", net("a = repeat 0 { relu }", "b = repeat 0 { relu }",
                                                  "x = sum(leaves of [a, b])"), 5, 23, ["'b' and 'a' are the same tensor"]),
    ("linear-on-unpooled-tensor", net(ret="linear(10)"), 3, 12, ["linear needs a flat [C] input", "[3, 8, 8]"]),
    ("empty-op-set-in-choice", "ops e = []\n" + net("x = one of e"), 4, 16, ["empty choice", "op set 'e'"]),
    ("empty-pick", net("x = sum(pick 1 of [])"), 3, 23, ["empty choice"]),
    ("pick-more-than-candidates", net("a = relu", "b = conv_3x3", "x = sum(pick 3 of [a, b])"), 5, 18,
     ["cannot pick 3", "out of 2"]),
    ("pick-independently-without-ops", net("a = relu", "x = sum(pick 2 of [a, input] independently)"), 4, 13,
     ["independently", "each"]),
    ("network-without-input", "network n() {\n    return global_avg_pool -> linear(10)\n}\n", 2, 12, ["no input"]),
    ("network-without-return", "network n() {\n    input [3, 8, 8]\n    x = relu\n}\n", 1, 1,
     ["network 'n' has no return statement"]),
    ("cell-without-return", "cell c(x) {\n    y = relu\n}\n" + net("z = c"), 1, 1, ["cell 'c' has no return statement"]),
    ("input-in-cell", "cell c(x) {\n    input [3, 8, 8]\n    return x\n}\n" + net("z = c"), 2, 5,
     ["'input' belongs in a network"]),
    ("import-not-found", 'import "nowhere.nas"\n' + net(), 1, 1, ["import not found", "'nowhere.nas'"]),
    ("import-bad-path", 'import "a\x00b"\n' + net(), 1, 1, ["import not found"]),
    ("nesting-too-deep", net("x = conv_3x3(" + "-" * 300 + "1)"), 3, 213, ["nests too deeply"]),
    ("runs-too-long", net("for i in range(100000) { for j in range(100000) { } }"), 3, 30, ["runs too long"]),
]


@pytest.mark.parametrize("text, line, col, words", [c[1:] for c in SYNTAX], ids=[c[0] for c in SYNTAX])
def test_syntax_errors(text: str, line: int, col: int, words: list[str]) -> None:
    located(text, line, col, *words)


@pytest.mark.parametrize("text, line, col, words", [c[1:] for c in NAMES], ids=[c[0] for c in NAMES])
def test_name_errors(text: str, line: int, col: int, words: list[str]) -> None:
    located(text, line, col, *words)


@pytest.mark.parametrize("text, line, col, words", [c[1:] for c in ARGUMENTS], ids=[c[0] for c in ARGUMENTS])
def test_argument_errors(text: str, line: int, col: int, words: list[str]) -> None:
    located(text, line, col, *words)


@pytest.mark.parametrize("text, line, col, words", [c[1:] for c in STRUCTURE], ids=[c[0] for c in STRUCTURE])
def test_structure_errors(text: str, line: int, col: int, words: list[str]) -> None:
    located(text, line, col, *words)


def test_too_many_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A space that would build a huge graph stops with a located error (a small limit keeps this fast)."""
    from nasdsl import compiler

    monkeypatch.setattr(compiler, "MAX_NODES", 500)
    located(net("x = repeat 100 { repeat 100 { repeat 100 { relu } } }"), 3, 48, "more than 500 nodes")


def test_unknown_network_parameter() -> None:
    err = located(net(), 1, 1, "network 'n' has no parameter 'CC'", "did you mean 'C'?", params={"CC": 32})
    assert "CC" not in str(err).split("\n")[1]  # the source line is quoted as written


def test_unknown_network_parameter_lists_the_known_ones() -> None:
    located(net(), 1, 1, "no parameter 'depth'", "its parameters: C", params={"depth": 3})


def test_circular_import(tmp_path: Path) -> None:
    a, b = tmp_path / "a.nas", tmp_path / "b.nas"
    a.write_text('import "b.nas"\n' + net(), encoding="utf-8")
    b.write_text('# b needs a\nimport "a.nas"\n', encoding="utf-8")
    with pytest.raises(NasError) as info:
        Space.from_file(a)
    err = info.value
    head, shown, caret = str(err).split("\n")
    assert head.startswith(f"{b}:2:1: error: circular import: a.nas -> b.nas -> a.nas")
    assert shown == '    import "a.nas"'
    assert caret == "    ^" + "~" * (len('import "a.nas"') - 1)


def test_import_not_found_from_a_file(tmp_path: Path) -> None:
    main = tmp_path / "main.nas"
    main.write_text('\n\nimport "lib/missing.nas"\n' + net(), encoding="utf-8")
    with pytest.raises(NasError) as info:
        Space.from_file(main)
    assert str(info.value).startswith(f"{main}:3:1: error: import not found: 'lib/missing.nas'")


def test_error_in_an_imported_file_points_into_that_file(tmp_path: Path) -> None:
    (tmp_path / "lib.nas").write_text("ops good = [relu]\nops bad = [sep_conv3x3]\n", encoding="utf-8")
    main = tmp_path / "main.nas"
    main.write_text('import "lib.nas"\n' + net("x = one of bad"), encoding="utf-8")
    with pytest.raises(NasError) as info:
        Space.from_file(main)
    head, shown, caret = str(info.value).split("\n")
    assert head.startswith(f"{tmp_path / 'lib.nas'}:2:12: error: unknown op or name 'sep_conv3x3'")
    assert shown == "    ops bad = [sep_conv3x3]"
    assert caret == "    " + " " * 11 + "^" + "~" * 10


# ---------------------------------------------------------------- the format itself


def test_render_format() -> None:
    err = NasError("unknown op 'sep_conv3x3'", Span("spaces/darts.nas", 2, 10, 11, "ops x = [\n    a = [sep_conv3x3]\n"),
                   hint="did you mean 'sep_conv_3x3'?")
    assert err.render() == (
        "spaces/darts.nas:2:10: error: unknown op 'sep_conv3x3'; did you mean 'sep_conv_3x3'?\n"
        "        a = [sep_conv3x3]\n"
        "             ^~~~~~~~~~~"
    )
    assert str(err) == err.render()


def test_render_without_a_span_or_a_source() -> None:
    assert NasError("no such file 'x.nas'").render() == "error: no such file 'x.nas'"
    # a file that cannot be read: the located head alone
    assert NasError("boom", Span("/nonexistent/x.nas", 3, 4)).render() == "/nonexistent/x.nas:3:4: error: boom"


def test_render_keeps_the_caret_under_tabs_and_control_characters() -> None:
    text = "network n() {\n\tx =\x0c\tbad\n}\n"
    err = NasError("here", Span("t.nas", 2, 7, 3, text))
    head, shown, caret = err.render().split("\n")
    assert shown == "    \tx = \tbad"  # the form feed shows as one space
    assert caret == "    \t    \t^~~"
    assert shown.index("bad") == caret.index("^")


def test_render_escapes_control_characters_in_the_message() -> None:
    err = NasError("import not found: 'a\x00b\x1b[2J'", Span("t.nas", 1, 1, 1, 'import "a"\n'))
    head = err.render().split("\n")[0]
    assert head == "t.nas:1:1: error: import not found: 'a\\x00b\\x1b[2J'"


def test_caret_width_stops_at_the_end_of_the_line() -> None:
    err = NasError("here", Span("t.nas", 1, 5, 50, "abc defg\n"))
    assert err.render().split("\n")[2] == "        ^~~~"


def test_lines_are_counted_as_the_parser_counts_them() -> None:
    # '\r' and '\f' are layout inside a line, not line breaks (str.splitlines would say otherwise)
    text = "network n() {\r    input [3, 8, 8]\x0c\n    x = relu ?\n}\n"
    err = located(text, 2, 14, "unexpected character '?'")
    assert err.span.source_line() == "    x = relu ?"


def test_from_file_error_quotes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "space.nas"
    path.write_text(net("x = sep_conv3x3"), encoding="utf-8")
    with pytest.raises(NasError) as info:
        Space.from_file(path)
    head, shown, caret = str(info.value).split("\n")
    assert head == f"{path}:3:9: error: unknown op or name 'sep_conv3x3'; did you mean 'sep_conv_3x3'?"
    assert shown == "        x = sep_conv3x3"
    assert caret == "            ^~~~~~~~~~~"


@pytest.mark.parametrize("text", [textwrap.dedent("""\
    network n(C = 16) {
        input [3, 8, 8]
        x = sum(input -> conv_3x3(C), input -> sep_conv_3x3(C))
        return global_avg_pool -> linear(10)
    }
    """)])
def test_a_correct_file_compiles(text: str) -> None:
    """The snippets above fail for the one reason they show, not for their frame."""
    assert Space.from_text(text, file=FILE).name == "n"
    assert Space.from_text(net(), file=FILE).name == "n"
