"""A captioned table inside a scrollable region that keyboard users can scroll too.

Wide tables (registrations, unit profiles, drill-downs) must not force the whole page to
scroll sideways (WCAG 1.4.10), so they sit in a focusable `role=region` whose accessible
name is the table's caption (or, where a page wants it, a name of its own).
"""

from __future__ import annotations

from collections.abc import Sequence

from dash import html
from dash.development.base_component import Component


def scroll_table(
    table_id: str,
    class_name: str,
    caption: str,
    header: Component,
    body: Sequence[Component],
    *,
    caption_id: str | None = None,
    region_label: str | None = None,
) -> html.Div:
    """The table `table_id` (header row `header`, rows `body`) in a scrollable region.

    The region is named by the caption (`caption_id`), or by `region_label` when given,
    in which case the caption keeps no id.
    """
    naming = (
        {"aria-label": region_label}
        if region_label is not None
        else {"aria-labelledby": caption_id}
    )
    return html.Div(
        role="region",
        tabIndex="0",
        className="table-scroll",
        **naming,
        children=html.Table(
            id=table_id,
            className=class_name,
            children=[
                html.Caption(caption)
                if region_label is not None
                else html.Caption(caption, id=caption_id),
                html.Thead(header),
                html.Tbody(list(body)),
            ],
        ),
    )
