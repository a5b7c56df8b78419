"""Event streams: binning into frames against hand-computed cases, validation, pickle-free loading, the seeded
synthetic DVS generator."""

import pickle

import numpy as np
import pytest

from empf_hw.errors import EmpfError
from empf_hw.nn.events import EVENT_DTYPE, check_events, load_events, synthetic_dvs, synthetic_gestures, to_frames

TONIC_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])  # tonic's DVSGesture


def stream(rows, dtype=EVENT_DTYPE):
    """Events from (x, y, t, p) rows."""
    ev = np.zeros(len(rows), dtype)
    for f, col in zip(("x", "y", "t", "p"), zip(*rows)):
        ev[f] = col
    return ev


EVENTS = stream([(0, 0, 0, 1), (3, 2, 10, 0), (3, 2, 20, 0), (1, 1, 30, 1), (1, 1, 40, 1), (1, 1, 40, 1)])


def test_equal_time_bins_over_the_stream_and_a_window():
    counts = to_frames(EVENTS, (4, 3), 2, mode="count")
    assert counts.shape == (2, 2, 3, 4) and counts.dtype == np.float32
    # span 0..40: bin ⌊t·2/40⌋ → t = 0, 10 in bin 0; 20, 30, 40, 40 in bin 1 (the last events stay in the last bin)
    expected = np.zeros((2, 2, 3, 4))
    expected[0, 1, 0, 0] = expected[0, 0, 2, 3] = expected[1, 0, 2, 3] = 1
    expected[1, 1, 1, 1] = 3
    assert np.array_equal(counts, expected)
    assert np.array_equal(to_frames(EVENTS, (4, 3, 2), 2), expected > 0)  # binary, tonic's (W, H, P) size
    # window [10, 40): t = 40 dropped; bin ⌊(t − 10)·2/30⌋ → 10 → 0, 20 → 0, 30 → 1
    win = to_frames(EVENTS, (4, 3), 2, window=(10, 40), mode="count")
    assert win[0, 0, 2, 3] == 2 and win[1, 1, 1, 1] == 1 and win.sum() == 3
    assert not to_frames(EVENTS[:0], (4, 3), 3).any()
    single = to_frames(EVENTS[3:4], (4, 3), 3)  # one timestamp: everything in bin 0
    assert single[0, 1, 1, 1] == 1 and single.sum() == 1


def test_tonic_layout_and_signed_polarity_give_the_same_frames():
    tonic = np.zeros(len(EVENTS), TONIC_DTYPE)
    for f in ("x", "y", "t"):
        tonic[f] = EVENTS[f]
    tonic["p"] = EVENTS["p"] == 1
    signed = EVENTS.copy()
    signed["p"] = np.where(EVENTS["p"] == 1, 1, -1)
    ref = to_frames(EVENTS, (4, 3), 3, mode="count")
    assert np.array_equal(to_frames(tonic, (4, 3), 3, mode="count"), ref)
    assert np.array_equal(to_frames(signed, (4, 3), 3, mode="count"), ref)


@pytest.mark.parametrize("events,size,message", [
    (EVENTS[["x", "y", "t"]], (4, 3), "events: missing field 'p'; required fields: x, y, t, p"),
    (stream([(0, -1, 0, 1)]), (4, 3), r"events field 'y': value -1 at index 0 is off the sensor; allowed: 0..2 "
                                      r"\(sensor height 3\)"),
    (stream([(0, 0, 0, 1), (4, 0, 1, 1)]), (4, 3), "events field 'x': value 4 at index 1 .* allowed: 0..3"),
    (stream([(0, 0, 0, 2)]), (4, 3), "events field 'p': value 2 at index 0; allowed: 0/1 or -1/1"),
    (stream([(0, 0, 0, 0), (0, 0, 1, -1)]), (4, 3), "events field 'p': value 0 at index 0; allowed: 0/1 or -1/1"),
    (stream([(0, 0, np.nan, 1)], np.dtype([(f, "<f8") for f in "xytp"])), (4, 3),
     "events field 'x' has dtype float64; allowed: integers"),
    (np.zeros((3, 4)), (4, 3), "events: expected a 1-D NumPy structured array with fields x, y, t, p"),
    (EVENTS, (4, 3, 1), r"sensor_size=\(4, 3, 1\) is not valid; allowed: \(width, height\) or \(width, height, 2\)"),
])
def test_bad_events_name_the_field(events, size, message):
    with pytest.raises(EmpfError, match=message):
        to_frames(events, size, 2)


def test_non_finite_timestamps_bad_window_and_mode_are_refused():
    bad_t = stream([(0, 0, 0, 1)], np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<f8"), ("p", "<i1")]))
    bad_t["t"] = np.inf
    with pytest.raises(EmpfError, match="events field 't': value inf at index 0; allowed: finite numbers"):
        check_events(bad_t, (4, 3))
    with pytest.raises(EmpfError, match=r"window=\(5, 5\) is not valid; allowed: \(t0, t1\) with finite t0 < t1"):
        to_frames(EVENTS, (4, 3), 2, window=(5, 5))
    with pytest.raises(EmpfError, match="mode='sum' is not valid; allowed: binary, count"):
        to_frames(EVENTS, (4, 3), 2, mode="sum")


def test_load_events_from_npy_and_npz(tmp_path):
    np.save(tmp_path / "a.npy", EVENTS)
    assert np.array_equal(load_events(tmp_path / "a.npy"), EVENTS)
    np.savez(tmp_path / "one.npz", anything=EVENTS)
    assert np.array_equal(load_events(tmp_path / "one.npz"), EVENTS)
    np.savez(tmp_path / "two.npz", events=EVENTS, label=np.array(3))
    assert np.array_equal(load_events(tmp_path / "two.npz"), EVENTS)
    assert load_events(tmp_path / "two.npz", key="label") == 3
    np.savez(tmp_path / "other.npz", a=EVENTS, b=EVENTS)
    with pytest.raises(EmpfError, match="other.npz: no array 'events'; arrays: a, b"):
        load_events(tmp_path / "other.npz")
    with pytest.raises(EmpfError, match="events file suffix='.bin' is not valid; allowed: .npy, .npz"):
        load_events(tmp_path / "a.bin")


class Payload:
    """Unpickling this would create a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_files_are_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "obj.npy", np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    (tmp_path / "raw.npy").write_bytes(pickle.dumps(Payload(str(marker))))
    np.savez(tmp_path / "obj.npz", events=np.array([Payload(str(marker))], dtype=object))
    for name in ("obj.npy", "raw.npy", "obj.npz"):
        with pytest.raises(EmpfError, match=f"events file .*{name}: cannot read"):
            load_events(tmp_path / name)
    assert not marker.exists()


@pytest.mark.parametrize("size", [(32, 32), (48, 48), (40, 24)])
def test_generator_is_seeded_valid_and_moves_each_class_its_own_way(size):
    streams, labels = synthetic_gestures(40, classes=8, sensor_size=size, seed=3)
    again, labels2 = synthetic_gestures(40, classes=8, sensor_size=size, seed=3)
    assert np.array_equal(labels, labels2) and all(np.array_equal(a, b) for a, b in zip(streams, again))
    other, _ = synthetic_gestures(40, classes=8, sensor_size=size, seed=4)
    assert not all(len(a) == len(b) and np.array_equal(a, b) for a, b in zip(streams, other))
    assert set(labels.tolist()) == set(range(8))
    for ev, c in zip(streams, labels):
        assert ev.dtype == EVENT_DTYPE and np.all(np.diff(ev["t"]) >= 0)
        check_events(ev, size)
        on = to_frames(ev, size, 4)[:, 1]  # on events mark the object's leading side
        first, last = (np.argwhere(on[k])[:, ::-1].mean(axis=0) for k in (0, 3))  # (x, y) centroids
        move = last - first
        angle = np.arctan2(move[1], move[0])
        assert abs(np.angle(np.exp(1j * (angle - 2 * np.pi * c / 8)))) < np.pi / 8  # the class's direction
        assert np.hypot(*move) > 0.3 * min(size)


def test_synthetic_dvs_frames():
    (xtr, ytr), (xte, yte) = synthetic_dvs((4, 2, 48, 48), classes=10, n_train=6, n_test=2, seed=1)
    assert xtr.shape == (6, 4, 2, 48, 48) and xte.shape == (2, 4, 2, 48, 48) and xtr.dtype == np.float32
    assert set(np.unique(xtr).tolist()) == {0.0, 1.0} and ytr.dtype == np.int64
    assert (xtr.sum(axis=(2, 3, 4)) > 0).all()  # every frame of every sample has events
    (xtr2, _), _ = synthetic_dvs((4, 2, 48, 48), classes=10, n_train=6, n_test=2, seed=1)
    assert np.array_equal(xtr, xtr2)
    with pytest.raises(EmpfError, match=r"shape=\(4, 48, 48\) is not valid; allowed: \(T, 2, height, width\)"):
        synthetic_dvs((4, 48, 48))
