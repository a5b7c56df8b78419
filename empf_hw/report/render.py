"""Self-contained HTML (plots embedded as base64 PNG, no network access) and Markdown renderings of a run."""

import base64
import html

import pandas as pd

ASSUMPTIONS = [
    "Costs are per inference: counts of the traced batch divided by the batch; cycles of that mean inference are "
    "rounded up per phase (exact for a batch of one).",
    "Inputs are 8-bit pixels injected at the stem layer's cores (no NoC hops); direct encoding, the same frame every "
    "timestep. The stem is event-driven like every layer (zero pixels are skipped).",
    "A packet is address bits + value bits; the value width is the spike width (0 for binary spikes), widened by "
    "sum pooling (a 2×2 sum of B-bit codes needs B+2 bits). Packets wider than the bus take several cycles.",
    "Within a core the phases are sequential per timestep: DRAM reload (spilled tiles), spike bus, accumulation "
    "(one event at a time over the lanes), partial-sum merge, neuron updates, auxiliary ops.",
    "Each synaptic op reads its weight cell(s) and read-modify-writes the input-current accumulator in the membrane "
    "SRAM; model weights wider than a cell are bit-sliced (one add per slice). Multipliers are used only for a "
    "multi-bit value with a multi-bit cell.",
    "An event needed by several tiles is sent to each (unicast); identity-shortcut spikes are added in the neuron "
    "phase (auxiliary adds) and do not occupy the spike bus.",
    "Tiles splitting their input send partial sums only in timesteps in which they received an event.",
    "Leakage: every used core leaks for the whole inference; the 45 nm SRAM leakage figure is an assumption "
    "(see the energy table) and can be overridden in the architecture YAML.",
    "Energies not overridden come from Horowitz (ISSCC 2014, 45 nm) with the interpolation rules and Stillmaker & "
    "Baas (2017) node scaling listed with the table.",
    "Fixed point: 8-bit input, saturating accumulators and membranes of the model's formats; EM-PF spike scales "
    "are calibrated on 256 training samples; EM-PF models trained with floating-point spikes run with the chosen "
    "spike width (default 4 bits).",
    "Two paper conventions are shown for comparison with the literature; both ignore memory, communication and "
    "leakage. literature_energy follows the EM-PF paper: a synaptic op on an n-bit spike costs n/32 of the 0.9 pJ "
    "fp32 add (a 4-bit spike: 0.9/8 pJ), on a binary spike the full 0.9 pJ, and the real-valued stem's MACs 4.6 pJ "
    "(fp32 multiply + add at 45 nm, Horowitz 2014). sop_energy charges every SOP 0.9 pJ whatever its width.",
]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def md_table(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + " --- |" * len(df.columns)]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


STYLE = """body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}h2{border-bottom:1px solid #ccc}"""


def render_html(title: str, sections: list[tuple[str, list]]) -> str:
    """``sections``: (heading, items); an item is a DataFrame, ("plot", name, png bytes) or a str paragraph."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, items in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for it in items:
            if isinstance(it, pd.DataFrame):
                body.append(html_table(it))
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
            elif isinstance(it, tuple):
                out += [f"![{it[1]}](plots/{it[1]}.png)", ""]
            elif isinstance(it, list):
                out += [f"- {x}" for x in it] + [""]
            else:
                out += [it, ""]
    return "\n".join(out)
