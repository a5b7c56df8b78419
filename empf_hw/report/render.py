"""Self-contained HTML (plots embedded as base64 PNG, no network access) and Markdown renderings of a run."""

import base64
import html

import pandas as pd

from .units import human

ASSUMPTIONS = [
    "Costs are per inference: counts of the traced batch divided by the batch; the fast estimate's cycles are those "
    "of that mean inference, rounded up per phase (exact for a batch of one). The cycle-level section simulates "
    "single inferences.",
    "Each model runs on its chip right-sized to it (same mesh, the smallest crossbar and SRAMs that hold its "
    "mapping, rounded up to 128 bytes) unless --as-given; the fair-comparison section shows the chips as given too.",
    "Inputs are 8-bit codes sent from the chip's I/O port to the stem's cores over the NoC; direct encoding, the "
    "same frame every timestep (recomputed every timestep unless chip.stem_once). Event-camera models take one "
    "frame per timestep.",
    "A packet is address bits + value bits; the value width is the spike width (0 for binary spikes), widened by "
    "sum pooling (a 2×2 sum of B-bit codes needs B+2 bits). Packets wider than the bus take several cycles; one "
    "packet per event and destination tile (no multicast).",
    "Each synaptic event reads whole synapse SRAM words (core.synapse_word_bits) holding its tile's weights for "
    "the event and, with core.accumulation event, read-modify-writes the input-current accumulator one lane row "
    "(core.accumulator_lanes accumulators) per access, priced by core.accumulator_storage (sram: a per-access and "
    "a per-bit share of the membrane SRAM's access, an assumed 50/50 split; regfile / latch: per bit); with "
    "output_stationary the events add in lane registers and each updated neuron's sum is written back once per "
    "timestep. The accumulator is core.accumulator_bits wide (auto: the widest sum any layer can reach, fan-in × "
    "weight × spike codes); a narrower width saturates, counted per layer from the trace's sums (accuracy is the "
    "export's, computed at its own accumulator width). Model weights wider than a cell "
    "are bit-sliced (one add per slice); multipliers are used only for a multi-bit value with a multi-bit cell. "
    "With core.synapse_compute popcount (or auto, per layer the cheaper) binary-weight layers instead run a dense "
    "bit-plane AND / popcount pass over every output's input window each timestep (one pass per spike bit, "
    "shift-added, core.popcount_bits pairs per cycle, before the neuron update), whatever the activity.",
    "EM-PF neurons also pay a membrane affine (Mem-BN) per update and a scale-and-clip per multi-bit spike; "
    "per-timestep neuron parameters are read every timestep.",
    "Tiles splitting their input send partial sums only in timesteps in which they received an event; identity-"
    "shortcut spikes are added in the neuron phase (auxiliary adds).",
    "Leakage: every used core leaks for the whole inference; the 45 nm SRAM leakage figure is an assumption (see "
    "the energy table, range 0.1–10×) and can be overridden in the architecture YAML.",
    "Energies not overridden come from Horowitz (ISSCC 2014, 45 nm) with the interpolation rules, one Stillmaker & "
    "Baas (2017) flavor for node scaling, and wire energy from Keckler et al. (2011) scaled by the supply only; "
    "every entry carries a range, and the 90 % intervals are Monte Carlo over those ranges with one draw per "
    "entry shared by both chips.",
    "Fixed point: 8-bit input, saturating accumulators and membranes of the model's formats; EM-PF spike scales "
    "are calibrated on 256 training samples; EM-PF models trained with floating-point spikes run with the chosen "
    "spike width (default 4 bits).",
    "Two paper conventions are shown for comparison with the literature; both ignore memory, communication and "
    "leakage. literature_energy follows the EM-PF paper: a synaptic op on an n-bit spike costs n/32 of the 0.9 pJ "
    "fp32 add (a 4-bit spike: 0.9/8 pJ), on a binary spike the full 0.9 pJ, and the real-valued stem's MACs 4.6 pJ "
    "(fp32 multiply + add at 45 nm, Horowitz 2014). sop_energy charges every SOP 0.9 pJ whatever its width.",
]


def html_table(df: pd.DataFrame) -> str:
    num = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    df = human(df)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    cell = ['<td class="n">' if n else "<td>" for n in num]
    rows = "".join("<tr>" + "".join(f"{c}{html.escape(str(v))}</td>" for v, c in zip(r, cell)) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<div class=\"wide\"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"


def md_table(df: pd.DataFrame) -> str:
    df = human(df)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + " --- |" * len(df.columns)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


STYLE = """body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
.wide{max-width:100%;overflow-x:auto}table{border-collapse:collapse;font-size:12px;margin:0.5em 0;max-width:100%}
td,th{border:1px solid #ccc;padding:2px 6px;overflow-wrap:break-word;vertical-align:top}
td.n{text-align:right;white-space:nowrap}
th{background:#eee;font-weight:600}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
h2{border-bottom:1px solid #ccc}"""


def render_html(title: str, sections: list[tuple[str, list]]) -> str:
    """``sections``: (heading, items); an item is a DataFrame, ("plot", name, png bytes), ("link", text, file),
    a list of bullet strings or a str paragraph."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, items in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for it in items:
            if isinstance(it, pd.DataFrame):
                body.append(html_table(it))
            elif isinstance(it, tuple) and it[0] == "link":
                body.append(f'<p><a href="{html.escape(it[2])}">{html.escape(it[1])}</a></p>')
            elif isinstance(it, tuple):
                _, name, png = it
                data = base64.b64encode(png).decode()
                body.append(f'<img class="plot" alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
            elif isinstance(it, list):
                body.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in it) + "</ul>")
            else:
                body.append(f"<p>{html.escape(it)}</p>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def render_markdown(title: str, sections: list[tuple[str, list]]) -> str:
    out = [f"# {title}", ""]
    for heading, items in sections:
        out += [f"## {heading}", ""]
        for it in items:
            if isinstance(it, pd.DataFrame):
                out += [md_table(it), ""]
            elif isinstance(it, tuple) and it[0] == "link":
                out += [f"[{it[1]}]({it[2]})", ""]
            elif isinstance(it, tuple):
                out += [f"![{it[1]}](plots/{it[1]}.png)", ""]
            elif isinstance(it, list):
                out += [f"- {x}" for x in it] + [""]
            else:
                out += [it, ""]
    return "\n".join(out)
