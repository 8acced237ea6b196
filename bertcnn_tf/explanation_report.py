"""Explanations as HTML: each text with its evidence spans coloured by contribution.

One self-contained page (no scripts or styles from the network): a
diverging colour scale (blue for the label, red against it, stronger for
larger contributions, overlapping spans adding up), a legend, each text's
label and probability, and buttons that sort the texts by confidence. The
same markup shows inline in Jupyter (`Explanations._repr_html_`). Every
piece of text is escaped.
"""

import html

STYLE = """
.bertcnn-explain { font-family: system-ui, sans-serif; line-height: 1.6; max-width: 60em; }
.bertcnn-explain .item { border-top: 1px solid #ddd; padding: 0.5em 0; }
.bertcnn-explain .head { font-size: 0.9em; color: #444; }
.bertcnn-explain .label { font-weight: 600; color: #000; }
.bertcnn-explain .text { white-space: pre-wrap; }
.bertcnn-explain mark { border-radius: 3px; padding: 0 1px; color: inherit; }
.bertcnn-explain .legend { display: flex; align-items: center; gap: 0.5em; font-size: 0.85em; }
.bertcnn-explain .scale { width: 12em; height: 0.9em; border: 1px solid #ccc;
  background: linear-gradient(to right, rgba(178,24,43,1), rgba(255,255,255,1), rgba(33,102,172,1)); }
.bertcnn-explain button { font-size: 0.85em; }
"""

SCRIPT = """
function bertcnnSort(button, key, descending) {
  var list = button.closest('.bertcnn-explain').querySelector('.items');
  var items = Array.prototype.slice.call(list.children);
  items.sort(function (a, b) {
    var d = parseFloat(a.dataset[key]) - parseFloat(b.dataset[key]);
    return descending ? -d : d;
  });
  items.forEach(function (item) { list.appendChild(item); });
}
"""

POSITIVE = (33, 102, 172)
NEGATIVE = (178, 24, 43)


def render_page(explanations, title="Why these labels", standalone=True):
    """HTML for `bertcnn_tf.explain`'s output: a whole page, or a fragment for Jupyter.

    Example:
    ```python
    page = render_page(bertcnn_tf.explain("runs/demo", ["charged twice"]))
    ```
    """
    largest = max(
        [abs(total) for item in explanations for text, spans in _shown(item) for _, _, total in _coverage(text, spans)]
        or [0.0]
    )
    items = "\n".join(_render_item(index, item, largest) for index, item in enumerate(explanations))
    body = f"""<div class="bertcnn-explain">
<div class="legend"><span>against the label</span><span class="scale"></span><span>for the label</span>
<span>(strongest: {largest:.3g}; overlapping spans add up)</span></div>
<div class="sort">Sort: <button onclick="bertcnnSort(this, 'confidence', true)">most confident first</button>
<button onclick="bertcnnSort(this, 'confidence', false)">least confident first</button>
<button onclick="bertcnnSort(this, 'index', false)">input order</button></div>
<div class="items">
{items}
</div>
</div>"""
    fragment = f"<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n{body}"
    if not standalone:
        return fragment
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body>
<h1>{html.escape(title)}</h1>
{fragment}
</body></html>
"""


def _explained(item):
    """The explained labels of one text: one for single-label, each predicted one for multi-label."""
    return item["explanations"] if "explanations" in item else [item]


def _shown(item):
    """`(text, its spans)` of every text and explained label of one item."""
    texts = [("text", item["text"])] + ([("text_pair", item["text_pair"])] if "text_pair" in item else [])
    return [
        (text, [span for span in explained["evidence"] if span["segment"] == segment])
        for explained in _explained(item)
        for segment, text in texts
    ]


def _coverage(text, spans):
    """`(start, stop, total)`: the ranges of `text` between span edges, and the contributions over each."""
    cuts = sorted({0, len(text)} | {span["start"] for span in spans} | {span["end"] for span in spans})
    return [
        (start, stop, sum(span["contribution"] for span in spans if span["start"] <= start and stop <= span["end"]))
        for start, stop in zip(cuts, cuts[1:])
    ]


def _render_item(index, item, largest):
    explained = _explained(item)
    confidence = max([part["probability"] for part in explained] or [0.0])
    blocks = []
    for part in explained:
        head = (
            f'<div class="head"><span class="label">{html.escape(str(part["label"]))}</span> '
            f'probability {part["probability"]:.3f} · score {part["score"]:.3f} = bias {part["bias"]:.3f}'
            f' + spans {sum(span["contribution"] for span in part["evidence"]):.3f} + rest {part["rest"]:.3f}'
            + (f' + [CLS] {part["cls_token"]:.3f}' if "cls_token" in part else "")
            + "</div>"
        )
        texts = [("text", item["text"])] + ([("text_pair", item["text_pair"])] if "text_pair" in item else [])
        shown = "".join(
            f'<div class="text">{_highlight(text, [s for s in part["evidence"] if s["segment"] == segment], largest)}</div>'
            for segment, text in texts
        )
        blocks.append(head + shown)
    if not explained:
        blocks.append(f'<div class="head">no label</div><div class="text">{html.escape(item["text"])}</div>')
    return f'<div class="item" data-index="{index}" data-confidence="{confidence:.6f}">{"".join(blocks)}</div>'


def _highlight(text, spans, largest):
    """`text` escaped, each range marked by the sum of the spans over it."""
    pieces = []
    for start, stop, total in _coverage(text, spans):
        piece = html.escape(text[start:stop])
        covered = any(span["start"] <= start and stop <= span["end"] for span in spans)
        if covered:
            piece = f'<mark style="background: {_colour(total, largest)}" title="{total:+.4f}">{piece}</mark>'
        pieces.append(piece)
    return "".join(pieces)


def _colour(value, largest):
    """A diverging colour: blue for positive, red for negative, opaque at `largest`."""
    red, green, blue = POSITIVE if value >= 0 else NEGATIVE
    strength = min(1.0, abs(value) / largest) if largest else 0.0
    return f"rgba({red}, {green}, {blue}, {0.15 + 0.6 * strength:.2f})"
