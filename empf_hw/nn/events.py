"""Event-camera (DVS) input: event streams as NumPy structured arrays with fields ``x, y, t, p`` (the layout of
``tonic``), binned into per-timestep frames, plus a seeded synthetic DVS-gesture-like generator.

Conventions, as in tonic: ``sensor_size`` is ``(width, height)`` or ``(width, height, 2)``; ``x`` in 0..width−1,
``y`` in 0..height−1, ``t`` a timestamp (µs for the generator), ``p`` the polarity, 0/1 or −1/1 (off/on; bool
accepted). Frames are (T, 2, height, width): channel 0 counts off events, channel 1 on events.
"""

from pathlib import Path

import numpy as np

from ..errors import EmpfError, check_choice, check_range

FIELDS = ("x", "y", "t", "p")
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
FRAME_MODES = ("binary", "count")
_KINDS = {"x": "iu", "y": "iu", "t": "iuf", "p": "biu"}  # allowed dtype kinds per field
DURATION_US = 100_000  # the generator's stream length


def _sensor(sensor_size) -> tuple[int, int]:
    """``(width, height)`` of a tonic-style sensor size."""
    ok = isinstance(sensor_size, (tuple, list)) and len(sensor_size) in (2, 3) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in sensor_size)
    if not ok or (len(sensor_size) == 3 and sensor_size[2] != 2):
        raise EmpfError(f"sensor_size={sensor_size!r} is not valid; allowed: (width, height) or (width, height, 2), "
                        "positive integers")
    return int(sensor_size[0]), int(sensor_size[1])


def check_events(events, sensor_size) -> None:
    """Raise one EmpfError naming the field unless ``events`` is a 1-D structured array with fields x, y, t, p
    whose coordinates lie on the sensor, finite timestamps and polarities 0/1 or −1/1."""
    width, height = _sensor(sensor_size)
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not isinstance(events, np.ndarray) or names is None or events.ndim != 1:
        raise EmpfError(f"events: expected a 1-D NumPy structured array with fields {', '.join(FIELDS)}; got "
                        f"{type(events).__name__} {getattr(events, 'dtype', '')}")
    for f in FIELDS:
        if f not in names:
            raise EmpfError(f"events: missing field {f!r}; required fields: {', '.join(FIELDS)}")
        if events.dtype[f].kind not in _KINDS[f]:
            allowed = "integers" if _KINDS[f] == "iu" else "integers or floats" if f == "t" else "bool or integers"
            raise EmpfError(f"events field {f!r} has dtype {events.dtype[f]}; allowed: {allowed}")
    for f, size, what in (("x", width, "width"), ("y", height, "height")):
        v = events[f]
        bad = np.flatnonzero((v < 0) | (v >= size))
        if len(bad):
            raise EmpfError(f"events field {f!r}: value {v[bad[0]]} at index {bad[0]} is off the sensor; allowed: "
                            f"0..{size - 1} (sensor {what} {size})")
    bad = np.flatnonzero(~np.isfinite(events["t"].astype(np.float64)))
    if len(bad):
        raise EmpfError(f"events field 't': value {events['t'][bad[0]]} at index {bad[0]}; allowed: finite numbers")
    p = events["p"].astype(np.int64)
    bad = np.flatnonzero((p < -1) | (p > 1))
    if len(bad) or (np.any(p == -1) and np.any(p == 0)):
        i = bad[0] if len(bad) else int(np.flatnonzero(p == 0)[0])
        raise EmpfError(f"events field 'p': value {events['p'][i]} at index {i}; allowed: 0/1 or -1/1 (off/on)")


def load_events(path: str | Path, key: str | None = None) -> np.ndarray:
    """An event array from a ``.npy`` file, or from a ``.npz`` archive (the array ``key``; without it the only
    array, else the one named ``events``). Never unpickles: object arrays are refused."""
    path = Path(path)
    check_choice("events file suffix", path.suffix, (".npy", ".npz"))
    try:
        with open(path, "rb") as fh:
            if path.suffix == ".npy":
                return np.load(fh, allow_pickle=False)
            with np.load(fh, allow_pickle=False) as z:
                names = list(z.keys())
                name = key or (names[0] if len(names) == 1 else "events")
                if name in names:
                    return z[name]
    except Exception as e:  # noqa: BLE001 - any unreadable file (pickled data included) is one clear error
        raise EmpfError(f"events file {path}: cannot read ({str(e).splitlines()[0]})") from None
    raise EmpfError(f"events file {path}: no array {name!r}; arrays: {', '.join(names) or 'none'}")


def to_frames(events: np.ndarray, sensor_size, n_bins: int, window: tuple[float, float] | None = None,
              mode: str = "binary") -> np.ndarray:
    """Bin an event stream into ``n_bins`` frames (n_bins, 2, height, width), float32.

    Bins are equal slices of time: of the stream's duration ``[t_first, t_last]`` (the last event falls in the last
    bin; a stream whose events share one timestamp fills bin 0; an empty one gives zeros), or of ``window = (t0,
    t1)``, half-open ``[t0, t1)``, events outside it dropped. Event at time t goes to bin ``⌊(t − t0)·n_bins /
    (t1 − t0)⌋``. ``mode``: ``count`` — events per pixel, polarity and bin; ``binary`` — 1 where there is any.
    Networks take inputs in [0, 1]: fixed-point execution clips counts above 1 (float mode does not), so feed
    binary frames or counts scaled into [0, 1]."""
    check_events(events, sensor_size)
    check_range("n_bins", n_bins, 1, 1024, integer=True)
    check_choice("mode", mode, FRAME_MODES)
    width, height = _sensor(sensor_size)
    t = events["t"].astype(np.float64)
    if window is None:
        t0, t1 = (t.min(), t.max()) if len(t) else (0.0, 0.0)
        keep = np.ones(len(t), bool)
    else:
        if not (isinstance(window, (tuple, list)) and len(window) == 2 and all(
                isinstance(v, (int, float, np.number)) and np.isfinite(v) for v in window) and window[1] > window[0]):
            raise EmpfError(f"window={window!r} is not valid; allowed: (t0, t1) with finite t0 < t1")
        t0, t1 = float(window[0]), float(window[1])
        keep = (t >= t0) & (t < t1)
    span = t1 - t0
    ev, t = events[keep], t[keep]
    k = np.zeros(len(t), np.int64) if span == 0 else np.minimum(
        np.floor((t - t0) * n_bins / span).astype(np.int64), n_bins - 1)
    on = (ev["p"].astype(np.int64) > 0).astype(np.int64)
    flat = ((k * 2 + on) * height + ev["y"].astype(np.int64)) * width + ev["x"].astype(np.int64)
    counts = np.bincount(flat, minlength=n_bins * 2 * height * width).reshape(n_bins, 2, height, width)
    return (counts > 0 if mode == "binary" else counts).astype(np.float32)


def _object_mask(cx: float, cy: float, theta: float, bar: bool, yy: np.ndarray, xx: np.ndarray, size: float):
    """Pixels covered by a disc (blob) of radius ``size/4``, or a bar (an oriented edge) of length ``size`` and
    width 2 across the motion direction ``theta``, centred at (cx, cy)."""
    dx, dy = xx - cx, yy - cy
    along = dx * np.cos(theta) + dy * np.sin(theta)  # along the motion
    across = -dx * np.sin(theta) + dy * np.cos(theta)
    if bar:
        return (np.abs(along) <= 1.0) & (np.abs(across) <= size / 2)
    return along**2 + across**2 <= (size / 4) ** 2


def synthetic_gestures(n: int, classes: int = 10, sensor_size=(32, 32), seed: int = 0, duration_us: int = DURATION_US,
                       substeps: int = 32, noise_events: int = 20) -> tuple[list[np.ndarray], np.ndarray]:
    """Seeded DVS-gesture-like streams: ``n`` event arrays (EVENT_DTYPE, sorted by t) and their labels (int64).

    Class c is an object moving across the sensor in direction ``2π·c/classes``: a blob for even c, a bar across
    the motion (an oriented edge) for odd c. Per sample the path's centre, the speed (±20 %) are jittered. The
    object is rendered at ``substeps`` instants over ``duration_us``; pixels it enters emit on events, pixels it
    leaves off events (timestamps uniform within the substep), plus ``noise_events`` random events. Same
    arguments, same output."""
    check_range("n", n, 1, integer=True)
    check_range("classes", classes, 2, 1000, integer=True)
    check_range("seed", seed, 0, integer=True)
    check_range("substeps", substeps, 2, 10_000, integer=True)
    check_range("duration_us", duration_us, substeps, integer=True)
    check_range("noise_events", noise_events, 0, integer=True)
    width, height = _sensor(sensor_size)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype(np.int64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    size = min(width, height) / 2
    dt = duration_us / substeps
    streams = []
    for c in labels:
        theta = 2 * np.pi * c / classes
        centre = np.array([width, height]) / 2 - 0.5 + rng.uniform(-0.1, 0.1, 2) * (width, height)
        travel = 0.6 * min(width, height) * rng.uniform(0.8, 1.2)
        offsets = (np.arange(substeps) / (substeps - 1) - 0.5) * travel
        masks = [_object_mask(*(centre + o * np.array([np.cos(theta), np.sin(theta)])), theta, bool(c % 2), yy, xx,
                              size) for o in offsets]
        parts = [(m & ~prev, 1, s) for s, (prev, m) in enumerate(zip(masks, masks[1:]), 1)] \
            + [(prev & ~m, 0, s) for s, (prev, m) in enumerate(zip(masks, masks[1:]), 1)]
        ys, xs, ps, ts = [], [], [], []
        for mask, pol, s in parts:
            y, x = np.nonzero(mask)
            ys.append(y)
            xs.append(x)
            ps.append(np.full(len(y), pol))
            ts.append(np.floor((s + rng.random(len(y))) * dt).astype(np.int64))
        ys.append(rng.integers(0, height, noise_events))
        xs.append(rng.integers(0, width, noise_events))
        ps.append(rng.integers(0, 2, noise_events))
        ts.append(rng.integers(0, duration_us, noise_events))
        ev = np.empty(sum(len(v) for v in ys), EVENT_DTYPE)
        for f, parts_f in zip(FIELDS, (xs, ys, ts, ps)):
            ev[f] = np.concatenate(parts_f)
        streams.append(ev[np.argsort(ev["t"], kind="stable")])
    return streams, labels


def synthetic_dvs(shape=(4, 2, 32, 32), classes: int = 10, n_train: int = 256, n_test: int = 64,
                  seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A seeded event-frame data set: ``synthetic_gestures`` streams binned (binary) into ``shape = (T, 2, height,
    width)`` frames over the generator's ``DURATION_US`` window; (train, test) pairs of (N, T, 2, H, W) float32
    frames and int64 labels."""
    if not (isinstance(shape, (tuple, list)) and len(shape) == 4 and shape[1] == 2):
        raise EmpfError(f"shape={shape!r} is not valid; allowed: (T, 2, height, width)")
    check_range("n_train", n_train, 1, integer=True)
    check_range("n_test", n_test, 0, integer=True)
    T, _, height, width = shape
    streams, labels = synthetic_gestures(n_train + n_test, classes, (width, height), seed)
    x = np.stack([to_frames(ev, (width, height), T, window=(0, DURATION_US)) for ev in streams])
    return (x[:n_train], labels[:n_train]), (x[n_train:], labels[n_train:])
