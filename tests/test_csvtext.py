"""The compiled CSV formatter writes what Arrow's CSV writer writes, byte for byte: Arrow's
float-to-text (double-conversion's shortest) is the oracle, on random bit patterns (every
exponent, subnormals, NaN and infinities), on model-like values, and on whole files."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from ketamine_ptsd.csvtext import format_rows
from ketamine_ptsd.writers import TrajectoryWriter, record_batch, schema

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-5, 1.2e-5, 1e-6, 9.99e-7, 1e-7, 1.5e-7, 2.5e-6, 123456.7, 1234567.0,
         12345678.0, 123456789.0, 1e9, 9.5e9, 1e10, 1.5e10, 1e15, 1e21, 3.4028235e38, 1.17549435e-38, 1.4e-45,
         np.nan, np.inf, -np.inf, 16777216.0, 16777217.0, 0.1, 0.2, 0.3, 1 / 3]


def arrow_lines(values: np.ndarray) -> list[bytes]:
    buf = io.BytesIO()
    pcsv.write_csv(pa.table({"x": pa.array(values)}), buf, write_options=pcsv.WriteOptions(include_header=False))
    return buf.getvalue().split(b"\n")[:-1]


def our_lines(values: np.ndarray) -> list[bytes]:
    """Each value formatted as the third field of a row ``7,0,value``."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).reshape(1, 1, -1)
    out = np.empty(bits.size * 40 + 64, dtype=np.uint8)
    time_text = np.frombuffer(b"0" * bits.shape[2], dtype=np.uint8).copy()
    starts = np.arange(bits.shape[2] + 1, dtype=np.int64)
    n = format_rows(np.array([7], dtype=np.int64), time_text, starts, bits, out)
    rows = out[:n].tobytes().split(b"\n")[:-1]
    assert all(r.startswith(b"7,0,") for r in rows)
    return [r[4:] for r in rows]


def test_edge_values_are_written_as_arrow_writes_them():
    values = np.array(EDGES + [-v for v in EDGES], dtype=np.float32)
    assert our_lines(values) == arrow_lines(values)


def test_random_bit_patterns_as_arrow():
    rng = np.random.default_rng(11)
    values = rng.integers(0, 2**32, 400_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    ours, arrow = our_lines(values), arrow_lines(values)
    wrong = [(values[i], arrow[i], ours[i]) for i in range(values.size) if ours[i] != arrow[i]]
    assert not wrong, wrong[:5]


def test_model_like_values_as_arrow_and_reading_back_exactly():
    rng = np.random.default_rng(12)
    values = np.concatenate([
        rng.lognormal(0.0, 4.0, 200_000) * rng.choice([-1.0, 1.0], 200_000),  # concentrations, signals
        np.round(rng.uniform(0, 80, 100_000), 3),  # scores with few decimals
        rng.uniform(0, 1e-6, 50_000),  # near zero
    ]).astype(np.float32)
    ours = our_lines(values)
    assert ours == arrow_lines(values)
    back = np.array([float(x) for x in ours]).astype(np.float32)
    np.testing.assert_array_equal(back, values)


@pytest.mark.parametrize("layout", ["outputs-major", "patients-major"])
def test_whole_file_equals_arrows_csv_writer(tmp_path, layout):
    rng = np.random.default_rng(13)
    names = ("a", "b_ng_ml", "pcl5_total")
    times = np.array([0.0, 0.25, 1.0, 24.5, 1344.0, 1e-3])
    chunks = []
    for first in (1, 40, 2**40):
        ids = np.arange(first, first + 37, dtype=np.int64) * (-1 if first == 40 else 1)
        if layout == "outputs-major":  # as the engine writes a chunk for a file
            values = np.moveaxis(rng.lognormal(0, 3, (len(names), ids.size, times.size)).astype(np.float32), 0, 2)
        else:
            values = rng.lognormal(0, 3, (ids.size, times.size, len(names))).astype(np.float32)
        values[3, 2, 1] = np.nan
        chunks.append((ids, values))
    ours = TrajectoryWriter(tmp_path / "ours.csv", "csv", names, "float32")
    sch = schema(names, "float32")
    arrow = pcsv.CSVWriter(str(tmp_path / "arrow.csv"), sch, write_options=pcsv.WriteOptions(quoting_header="none"))
    for ids, values in chunks:
        ours.write(ids, times, values)
        arrow.write_batch(record_batch(ids, times, values, sch))
    ours.close({})
    arrow.close()
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "arrow.csv").read_bytes()
    assert ours.rows == 3 * 37 * times.size


def test_blocks_of_patients_join_into_the_same_file(tmp_path, monkeypatch):
    """A chunk larger than one block of text is formatted in blocks of patients."""
    from ketamine_ptsd import writers

    rng = np.random.default_rng(14)
    ids, times = np.arange(50, dtype=np.int64), np.arange(0.0, 30.0)
    values = rng.normal(size=(50, 30, 2)).astype(np.float32)
    whole = TrajectoryWriter(tmp_path / "whole.csv", "csv", ("x", "y"), "float32")
    whole.write(ids, times, values)
    whole.close({})
    monkeypatch.setattr(writers._Float32Csv, "BLOCK", 3000)  # a few patients per block
    blocks = TrajectoryWriter(tmp_path / "blocks.csv", "csv", ("x", "y"), "float32")
    blocks.write(ids, times, values)
    blocks.close({})
    assert (tmp_path / "blocks.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_json_numbers_as_the_arrow_path_writes_them():
    """float32 JSON columns go through the compiled formatter; float64 ones (and ids, times)
    through Arrow's text and a rewrite to JSON's tokens, which serves as the oracle here."""
    from ketamine_ptsd.writers import _json_float32, _json_numbers

    rng = np.random.default_rng(15)
    values = np.concatenate([np.array(EDGES + [-v for v in EDGES], dtype=np.float32),
                             rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
                             rng.lognormal(0, 3, 100_000).astype(np.float32)])
    batch = pa.RecordBatch.from_arrays([pa.array(values)], names=["x"])
    assert bytes(_json_float32(batch.column(0))) == _json_numbers(batch, 0)
    part = batch.slice(17, 1000)  # a column that starts inside its buffer
    assert bytes(_json_float32(part.column(0))) == _json_numbers(part, 0)


def test_json_file_reads_back_the_float32_values(tmp_path):
    import json

    rng = np.random.default_rng(16)
    values = rng.lognormal(0, 3, (4, 5, 2)).astype(np.float32)
    values[0, 0, 0], values[1, 1, 1], values[2, 2, 0] = np.nan, np.inf, 3.0
    writer = TrajectoryWriter(tmp_path / "t.json", "json", ("a", "b"), "float32")
    writer.write(np.arange(4), np.arange(5.0), values)
    writer.close({"k": 1})
    doc = json.loads((tmp_path / "t.json").read_text())
    back = np.stack([np.array(doc["data"][n], dtype=np.float32).reshape(4, 5) for n in ("a", "b")], axis=-1)
    np.testing.assert_array_equal(back, values)
    assert isinstance(doc["data"]["a"][doc["data"]["a"].index(3.0)], float)


def test_the_longest_value_text_fits_the_buffer_bound():
    """Every negative float32 written once gave 16 bytes at most, reached at -1.0000001e-06; the
    writers size their buffers with VALUE_BYTES per value (no bounds checks in compiled code)."""
    from ketamine_ptsd.csvtext import VALUE_BYTES

    first, last = np.array([1e-6, 1e-5], dtype=np.float32).view(np.uint32)
    bits = np.arange(first, last, 7, dtype=np.uint32) | np.uint32(1 << 31)  # the binade of 1e-6, negative
    longest = max(len(x) for x in our_lines(bits.view(np.float32)))
    assert longest == 16 and longest + 1 <= VALUE_BYTES


def test_no_value_writes_past_its_text_by_more_than_the_slack():
    """The positional text is written in fixed-width pieces that run past the value's end; the
    writers give every buffer SLACK bytes beyond its bound for them."""
    import numba

    from ketamine_ptsd.csvtext import SLACK, put_float32

    @numba.njit
    def overshoot(bits):
        buf = np.empty(96, dtype=np.uint8)
        worst = 0
        for i in range(bits.size):
            buf[:] = 0xFF
            end = put_float32(buf, 8, bits[i])
            last = 95
            while buf[last] == 0xFF:
                last -= 1
            worst = max(worst, last + 1 - end)
            for j in range(8):
                if buf[j] != 0xFF:  # nothing before the value
                    return -1
        return worst

    rng = np.random.default_rng(17)
    bits = np.concatenate([np.array(EDGES + [-v for v in EDGES], dtype=np.float32).view(np.uint32),
                           rng.integers(0, 2**32, 300_000, dtype=np.uint64).astype(np.uint32),
                           # every decimal exponent of the positional layout, negative and positive
                           (np.float32(10.0) ** np.arange(-6, 11, dtype=np.float32)
                            * rng.uniform(1, 10, (2000, 1)).astype(np.float32)).ravel().view(np.uint32)])
    bits = np.concatenate([bits, bits | np.uint32(1 << 31)])
    worst = overshoot(bits)
    assert 0 < worst <= 16 < SLACK


def test_eight_digits_in_one_word():
    from ketamine_ptsd.csvtext import _eight_digits

    rng = np.random.default_rng(19)
    for x in [0, 1, 9, 10, 99, 100, 9999, 10000, 12345678, 99999999, *rng.integers(0, 10**8, 2000)]:
        word = int(_eight_digits(np.uint64(x)))
        assert word.to_bytes(8, "little") == f"{x:08d}".encode()


def test_shortest_digits_as_numpy_finds_them():
    """Schubfach's digits against an independent oracle: numpy's Dragon4 in its ``unique`` mode
    (the shortest digits that read back to the same float32, the closest where two are as
    short), on random bit patterns of every exponent and model-like values."""
    from ketamine_ptsd.csvtext import shortest

    rng = np.random.default_rng(20)
    values = np.concatenate([rng.integers(1, 0x7F800000, 20_000, dtype=np.int64).astype(np.uint32).view(np.float32),
                             rng.lognormal(0, 3, 5000).astype(np.float32),
                             np.float32(2.0) ** np.arange(-149, 128, dtype=np.float32),  # a closer lower neighbour
                             np.array([v for v in EDGES if np.isfinite(v) and v > 0], dtype=np.float32)])
    for v in values:
        mantissa, exp = np.format_float_scientific(v, unique=True, trim="-").split("e")
        digits = mantissa.replace(".", "").rstrip("0")
        want = (int(digits), int(exp) - (len(digits) - 1))
        got = shortest(np.int64(v.view(np.uint32)))
        assert (int(got[0]), int(got[1])) == want, (v, got, want)


def _csv_with(tmp_path, name, monkeypatch, direct, block, values, ids, times):
    from ketamine_ptsd import writers

    monkeypatch.setattr(writers._Float32Csv, "DIRECT", direct)
    monkeypatch.setattr(writers._Float32Csv, "BLOCK", block)
    writer = TrajectoryWriter(tmp_path / name, "csv", ("x", "y", "z"), "float32")
    for p0 in range(0, ids.size, 17):  # chunks of patients, as a run writes them
        writer.write(ids[p0:p0 + 17], times, values[p0:p0 + 17])
    writer.close({})
    return (tmp_path / name).read_bytes(), writer._writer._file.direct


@pytest.mark.skipif(not hasattr(__import__("os"), "O_DIRECT"), reason="O_DIRECT is Linux's")
@pytest.mark.parametrize("block", [3000, 70_000, 16 << 20])
def test_direct_and_buffered_writes_give_the_same_file(tmp_path, monkeypatch, block):
    """Blocks written with O_DIRECT up to their last whole 4 KiB, the rest carried into the next
    block and the last piece padded and cut back: the same bytes as through the page cache."""
    rng = np.random.default_rng(21)
    ids, times = np.arange(60, dtype=np.int64), np.arange(0.0, 41.0)
    values = rng.lognormal(0, 3, (60, 41, 3)).astype(np.float32)
    direct, used_direct = _csv_with(tmp_path, "direct.csv", monkeypatch, True, block, values, ids, times)
    plain, used_plain = _csv_with(tmp_path, "plain.csv", monkeypatch, False, block, values, ids, times)
    assert used_direct and not used_plain
    assert len(direct) % 4096 and direct == plain
    assert direct.count(b"\n") == 1 + 60 * 41


@pytest.mark.skipif(not hasattr(__import__("os"), "O_DIRECT"), reason="O_DIRECT is Linux's")
@pytest.mark.parametrize("refused_at", ["open", "write"])
def test_a_file_system_refusing_direct_writes_gets_the_same_file(tmp_path, monkeypatch, refused_at):
    import errno
    import fcntl
    import os

    rng = np.random.default_rng(22)
    ids, times = np.arange(60, dtype=np.int64), np.arange(0.0, 41.0)
    values = rng.lognormal(0, 3, (60, 41, 3)).astype(np.float32)
    plain, _ = _csv_with(tmp_path, "plain.csv", monkeypatch, False, 70_000, values, ids, times)
    real_open, real_write = os.open, os.write

    def refusing_open(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    def refusing_write(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, refused_at, refusing_open if refused_at == "open" else refusing_write)
    refused, used_direct = _csv_with(tmp_path, "refused.csv", monkeypatch, True, 70_000, values, ids, times)
    assert not used_direct and refused == plain


def test_an_aborted_csv_leaves_no_file(tmp_path):
    import threading

    rng = np.random.default_rng(23)
    writer = TrajectoryWriter(tmp_path / "t.csv", "csv", ("x",), "float32")
    values = rng.normal(size=(300, 500, 1)).astype(np.float32)
    writer.write(np.arange(300, dtype=np.int64), np.arange(0.0, 500.0), values)
    writer.abort()
    assert not (tmp_path / "t.csv").exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("ketamine-ptsd-writer")]


@pytest.mark.parametrize("fails_at", ["a block", "the last piece"])
def test_a_failed_write_surfaces_and_the_run_leaves_no_file(tmp_path, monkeypatch, fails_at):
    """A full disk in the writer thread: the error reaches the run, which removes the file."""
    import errno
    import os

    from ketamine_ptsd import writers

    real_write, calls = os.write, []

    def full_disk(fd, data):
        calls.append(len(data))
        if (fails_at == "a block" and len(calls) == 2) or (fails_at == "the last piece" and len(data) <= 4096):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(writers._Float32Csv, "BLOCK", 70_000)
    monkeypatch.setattr(os, "write", full_disk)
    rng = np.random.default_rng(24)
    values = rng.lognormal(0, 3, (60, 41, 3)).astype(np.float32)
    writer = TrajectoryWriter(tmp_path / "t.csv", "csv", ("x", "y", "z"), "float32")
    with pytest.raises(OSError, match="No space left"):
        try:
            for p0 in range(0, 60, 17):
                writer.write(np.arange(p0, min(p0 + 17, 60)), np.arange(0.0, 41.0), values[p0:p0 + 17])
            writer.close({})
        except BaseException:
            writer.abort()
            raise
    assert not (tmp_path / "t.csv").exists()
