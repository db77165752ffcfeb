"""Trajectory files written chunk by chunk: each chunk of patients goes from the engine's
array (patients x times x outputs) straight into Arrow columns and on to disk (Parquet, or
JSON), or for CSV into text by the compiled formatter of :mod:`.csvtext` (float32; the text
Arrow's CSV writer gives, at a fifth of its cost) or Arrow's writer (float64), so memory holds
one chunk whatever the population size. JSON's float32 columns go through the same formatter.

The long format is one row per patient and time: ``id``, ``time_h``, then one column per
output, in ``float32`` (default of the command line: seven significant digits, well inside
the solver's tolerance of 1e-6) or ``float64``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from .errors import InputError

FORMATS = ("csv", "parquet", "json")
PRECISIONS = ("float32", "float64")


def check_format(fmt: str, precision: str = "float64") -> None:
    """Raise an InputError for an unknown file format or precision."""
    if fmt not in FORMATS:
        raise InputError("format", f"unknown format {fmt!r}", ", ".join(FORMATS))
    if precision not in PRECISIONS:
        raise InputError("precision", f"unknown precision {precision!r}", ", ".join(PRECISIONS))


def schema(names, precision: str) -> pa.Schema:
    """The Arrow schema of the long format for outputs ``names``. Every column is declared
    non-null (a value the engine could not compute is NaN, a number, never a missing value):
    Parquet then stores no definition levels, which for a nullable column the writer computes
    and run-length encodes value by value, 40 % of the write's CPU (0.75 to 0.45 s for 4,000
    patients, 25 outputs hourly)."""
    value = pa.float32() if precision == "float32" else pa.float64()
    columns = [("id", pa.int64()), ("time_h", pa.float64()), *((n, value) for n in names)]
    return pa.schema([pa.field(name, kind, nullable=False) for name, kind in columns])


def record_batch(ids: np.ndarray, times: np.ndarray, values: np.ndarray, sch: pa.Schema) -> pa.RecordBatch:
    """Long-format rows of ``values[i, j, k]`` (patient ``ids[i]``, time ``times[j]``, output
    ``k``). An output whose values lie patient by patient, time by time in memory, in the
    schema's precision (as :class:`~.simulation.ChunkedRun` has the engine write them), goes to
    Arrow without a copy; any other layout is copied once."""
    m, t, k = values.shape
    dtype = np.float32 if k and sch.field(2).type == pa.float32() else np.float64
    columns = values.transpose(2, 0, 1)
    arrays = [_arrow(np.repeat(np.asarray(ids, dtype=np.int64), t)), _arrow(np.tile(np.asarray(times, float), m))]
    arrays += [_arrow(np.ascontiguousarray(columns[c], dtype=dtype).reshape(-1)) for c in range(k)]
    return pa.RecordBatch.from_arrays(arrays, schema=sch)


_ARROW_TYPES = {np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64(), np.dtype(np.float32): pa.float32()}


def _arrow(a: np.ndarray) -> pa.Array:
    """A contiguous 1-D numpy array as an Arrow array on the same memory, no nulls (NaN stays
    a value, as ``pa.array`` keeps it). ``pa.array`` would do the same but imports pandas on its
    first call, to check whether it was given pandas data: 0.3 s of CPU for every run."""
    return pa.Array.from_buffers(_ARROW_TYPES[a.dtype], a.size, [None, pa.py_buffer(a)])


_INTEGRAL = re.compile(rb"^(-?\d+)$", re.MULTILINE)


def _json_numbers(batch: pa.RecordBatch, column: int) -> bytes:
    """One column of ``batch`` as JSON numbers, each followed by a comma (shortest text that
    reads back to the same value; NaN and infinities as Python's json writes them; floats
    always with a decimal point, so they read back as floats)."""
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    table = pa.Table.from_batches([batch.select([column])])
    pcsv.write_csv(table, buf, write_options=pcsv.WriteOptions(include_header=False))
    text = buf.getvalue()
    if pa.types.is_floating(batch.schema.field(column).type):
        text = _INTEGRAL.sub(rb"\1.0", text)
        text = text.replace(b"nan", b"NaN").replace(b"-inf", b"-Infinity").replace(b"inf", b"Infinity")
    return text.replace(b"\n", b",")


def _json_float32(column: pa.Array) -> memoryview:
    """A float32 column (no nulls) as :func:`_json_numbers` writes it, by the compiled formatter."""
    from .csvtext import SLACK, VALUE_BYTES, format_json_numbers

    bits = np.frombuffer(column.buffers()[1], dtype=np.uint32, count=len(column), offset=4 * column.offset)
    out = np.empty(bits.size * VALUE_BYTES + SLACK, dtype=np.uint8)
    return memoryview(out)[:format_json_numbers(bits, out)]


class _BlockFile:
    """A new file written in large blocks from a background thread, so the next block is
    formatted while this one is written; on Linux with ``O_DIRECT``, bypassing the page cache.

    On the virtual machines this project is measured on, copying a gigabyte of text into the
    page cache costs the writing process 0.3 to 3.2 s of system time (fresh guest pages are
    expensive to touch), against 0.11 to 0.12 s with ``O_DIRECT`` and about the same wall
    time (docs/benchmarks.md). ``O_DIRECT`` wants 4 KiB-aligned memory, lengths and offsets:
    each block is written up to its last whole 4 KiB and the rest carried into the next; the
    last piece is written padded and the file cut back to its length. Where the file system
    refuses ``O_DIRECT`` (tmpfs, or a write that fails with EINVAL) the file is written
    through the page cache instead, with the same bytes."""

    ALIGN = 4096

    def __init__(self, path: Path, direct: bool = True):
        # O_BINARY: on Windows, os.write would otherwise turn each \n into \r\n.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        self.direct = False
        self._fd = -1
        if direct and hasattr(os, "O_DIRECT"):
            try:
                self._fd = os.open(path, flags | os.O_DIRECT, 0o666)
                self.direct = True
            except OSError:
                self._fd = -1
        if self._fd < 0:
            self._fd = os.open(path, flags, 0o666)
        self._buffers = [np.empty(0, dtype=np.uint8), np.empty(0, dtype=np.uint8)]
        self._which = 0
        self._carry = b""
        self._size = 0  # bytes of the file, carried ones included
        self._pending = None
        self._pool = None

    def _aligned(self, size: int) -> np.ndarray:
        raw = np.empty(size + self.ALIGN, dtype=np.uint8)
        skip = -raw.ctypes.data % self.ALIGN
        return raw[skip:skip + size]

    def reserve(self, size: int) -> tuple[np.ndarray, int]:
        """A buffer for the next block, room for ``size`` bytes after the carried ones, and
        where those end."""
        # The pending write, if any, is on the other buffer unless the last commit wrote
        # nothing (a block shorter than ALIGN, all carried): then it may be on this one.
        self._which ^= 1
        if self._pending is not None and self._which == self._pending[1]:
            self._wait()
        need = len(self._carry) + size + self.ALIGN
        if self._buffers[self._which].size < need:
            self._buffers[self._which] = self._aligned(need)
        buf = self._buffers[self._which]
        buf[:len(self._carry)] = np.frombuffer(self._carry, dtype=np.uint8)
        return buf, len(self._carry)

    def commit(self, end: int) -> None:
        """Write ``buffer[:end]`` of the last :meth:`reserve`, all but an unaligned tail."""
        buf = self._buffers[self._which]
        self._size += end - len(self._carry)
        whole = end - end % self.ALIGN if self.direct else end
        self._carry = buf[whole:end].tobytes()
        if whole:
            self._wait()
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="ketamine-ptsd-writer")
            self._pending = (self._pool.submit(self._write, memoryview(buf)[:whole]), self._which)

    def put(self, data: bytes) -> None:
        buf, start = self.reserve(len(data))
        buf[start:start + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.commit(start + len(data))

    def _write(self, view: memoryview) -> None:
        while len(view):
            try:
                done = os.write(self._fd, view)
            except OSError as err:
                if not self.direct or err.errno != errno.EINVAL:
                    raise
                self._buffered()  # the file system takes no direct writes after all
                continue
            view = view[done:]
            if len(view) and self.direct:
                self._buffered()  # a short direct write: the rest is no longer aligned

    def _buffered(self) -> None:
        import fcntl

        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self.direct = False

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending[0].result()

    def close(self, finish: bool = True) -> None:
        """Write what is carried and close. ``finish=False`` (abandoning the file) writes no more
        and does not raise a failed write's error over the one that abandons it. Closing
        twice does nothing."""
        if self._fd < 0:
            return
        try:
            if not finish:
                with contextlib.suppress(Exception):
                    self._wait()
                return
            self._wait()
            if self._carry:
                if self.direct:
                    padded = self._aligned(self.ALIGN)
                    padded[:len(self._carry)] = np.frombuffer(self._carry, dtype=np.uint8)
                    padded[len(self._carry):] = 0
                    self._write(memoryview(padded))
                    os.ftruncate(self._fd, self._size)
                else:
                    self._write(memoryview(self._carry))
        finally:
            if self._pool is not None:
                self._pool.shutdown()
            fd, self._fd = self._fd, -1
            os.close(fd)


class _Float32Csv:
    """A float32 CSV file written by :func:`.csvtext.format_rows`: the header and rows Arrow's
    CSV writer would write (a test compares the bytes), a block of patients at a time, each
    block written by :class:`_BlockFile` while the next is formatted."""

    BLOCK = 16 << 20  # bytes of text per block at most
    DIRECT = True  # O_DIRECT where the file system takes it

    def __init__(self, path: Path, names):
        self._file = _BlockFile(path, self.DIRECT)
        self._file.put((",".join(names) + "\n").encode())
        self._times = None

    def _time_text(self, times: np.ndarray) -> None:
        """Each output time's text, as Arrow writes a float64, once per run."""
        import pyarrow.csv as pcsv

        if self._times is not None and np.array_equal(self._times[0], times):
            return
        buf = io.BytesIO()
        pcsv.write_csv(pa.table({"t": _arrow(np.ascontiguousarray(times, dtype=float))}), buf,
                       write_options=pcsv.WriteOptions(include_header=False))
        lines = buf.getvalue().split(b"\n")[:-1]
        start = np.zeros(len(lines) + 1, dtype=np.int64)
        start[1:] = np.cumsum([len(x) for x in lines])
        self._times = (np.array(times, dtype=float), np.frombuffer(b"".join(lines), dtype=np.uint8).copy(), start,
                       max(len(x) for x in lines))

    def write(self, ids: np.ndarray, times: np.ndarray, values: np.ndarray) -> int:
        from .csvtext import ID_BYTES, SLACK, VALUE_BYTES, format_rows

        self._time_text(times)
        _, text, start, longest = self._times
        m, t, k = values.shape
        bits = np.moveaxis(np.asarray(values, dtype=np.float32), 2, 0).view(np.uint32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        row = ID_BYTES + longest + 1 + VALUE_BYTES * k + 1
        per = max(1, self.BLOCK // (row * max(t, 1)))
        for p0 in range(0, m, per):
            buf, begin = self._file.reserve(min(per, m - p0) * row * t + SLACK)
            n = format_rows(ids[p0:p0 + per], text, start, bits[:, p0:p0 + per], buf[begin:])
            self._file.commit(begin + n)
        return m * t

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        self._file.close(finish=False)


class TrajectoryWriter:
    """Writes the long format of a run to ``path`` chunk by chunk: :meth:`write` per chunk of
    patients, :meth:`close` with the run's metadata at the end (Parquet keeps it in the file's
    key-value metadata under ``ketamine_ptsd``, JSON under ``metadata``; CSV has none).
    :meth:`abort` removes what was written."""

    def __init__(self, path: str | Path, fmt: str, names, precision: str = "float32"):
        check_format(fmt, precision)
        self.path = Path(path)
        self.fmt = fmt
        self.names = tuple(names)
        self.schema = schema(self.names, precision)
        self.rows = 0
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # Without the serialised Arrow schema, readers take the schema's metadata from the
            # file's key-value metadata, which close() writes once the run is known.
            # Dictionary encoding only where values repeat (ids, times): on the outputs it costs
            # three quarters of the write and saves nothing. Statistics (each row group's and
            # page's minimum and maximum) likewise only for ids and times, which readers filter
            # on: a row group holds a chunk of patients over the whole course, so the outputs'
            # ranges would let a reader skip nothing, and computing them cost a quarter of the
            # write (0.71 to 0.53 s of CPU for 4,000 patients, 25 outputs hourly).
            keys = self.schema.names[:2]  # id, time_h
            self._writer = pq.ParquetWriter(self.path, self.schema, store_schema=False,
                                            use_dictionary=keys, write_statistics=keys)
        elif fmt == "csv" and precision == "float32":
            self._writer = _Float32Csv(self.path, self.schema.names)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            self._writer = pcsv.CSVWriter(self.path, self.schema,
                                          write_options=pcsv.WriteOptions(quoting_header="none"))
        else:
            # Column by column: JSON holds each column as one list, so each goes to a file of
            # its own and the lists are joined at the end.
            self._parts = self.path.with_name(f".{self.path.name}.columns")
            self._parts.mkdir()
            self._files = [open(self._parts / str(c), "wb") for c in range(len(self.schema))]  # noqa: SIM115

    def write(self, ids: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """Append patients ``ids`` with ``values`` (patients x times x outputs) at ``times``."""
        if self.fmt == "csv" and isinstance(self._writer, _Float32Csv):
            self.rows += self._writer.write(ids, times, values)
            return
        batch = record_batch(ids, times, values, self.schema)
        self.rows += batch.num_rows
        if self.fmt == "json":
            for c, fh in enumerate(self._files):
                if batch.schema.field(c).type == pa.float32():
                    fh.write(_json_float32(batch.column(c)))
                else:
                    fh.write(_json_numbers(batch, c))
        elif self.fmt == "csv":
            self._writer.write_batch(batch)
        else:
            self._writer.write_table(pa.Table.from_batches([batch]))

    def close(self, metadata: dict) -> Path:
        """Finish the file with ``metadata``; returns its path."""
        if self.fmt == "parquet":
            self._writer.add_key_value_metadata({"ketamine_ptsd": json.dumps(metadata)})
            self._writer.close()
        elif self.fmt == "csv":
            self._writer.close()
        else:
            for fh in self._files:
                fh.close()
            with open(self.path, "wb") as out:
                head = {"metadata": metadata, "columns": list(self.schema.names)}
                out.write(json.dumps(head)[:-1].encode() + b', "data": {')
                for c, name in enumerate(self.schema.names):
                    part = self._parts / str(c)
                    out.write((", " if c else "").encode() + json.dumps(name).encode() + b": [")
                    with open(part, "rb") as fh:
                        _copy_prefix(fh, out, part.stat().st_size - 1 if self.rows else 0)
                    out.write(b"]")
                out.write(b"}}")
            shutil.rmtree(self._parts)
        return self.path

    def abort(self) -> None:
        """Close and remove whatever was written."""
        try:
            if self.fmt == "json":
                for fh in self._files:
                    fh.close()
                shutil.rmtree(self._parts, ignore_errors=True)
            elif isinstance(self._writer, _Float32Csv):
                self._writer.abort()
            else:
                self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)


def _copy_prefix(src, dst, size: int, block: int = 1 << 24) -> None:
    """Copy the first ``size`` bytes of ``src`` to ``dst``."""
    while size > 0:
        data = src.read(min(block, size))
        if not data:
            break
        dst.write(data)
        size -= len(data)


def write_trajectory(traj, folder: str | Path, fmt: str = "csv", precision: str = "float64") -> Path:
    """Write ``traj`` as ``folder/trajectory.<fmt>`` and ``folder/metadata.json``, each under a
    temporary name first, so a failed write leaves nothing half-written."""
    check_format(fmt, precision)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"trajectory.{fmt}"
    tmp = folder / f".trajectory.{fmt}.tmp"
    writer = TrajectoryWriter(tmp, fmt, traj.names, precision)
    try:
        writer.write(traj.ids, traj.times_h, traj.values)
        writer.close(traj.metadata)
    except BaseException:
        writer.abort()
        raise
    os.replace(tmp, path)
    write_metadata(folder, traj.metadata)
    return path


def write_metadata(folder: Path, metadata: dict) -> Path:
    """``folder/metadata.json``, written under a temporary name and renamed."""
    path = folder / "metadata.json"
    tmp = folder / ".metadata.json.tmp"
    tmp.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path
