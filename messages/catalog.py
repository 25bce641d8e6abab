"""Segments, one segment, Leading Indicators, data components."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from messages import blocks as b
from messages.account import emoji_lookup
from messages.actions import SEGMENT_CSV
from messages.render import Message, checked, escape_mrkdwn

if TYPE_CHECKING:
    from messages.settings import DisplaySettings


@dataclass(frozen=True)
class SegmentsData:
    run: str
    segments: list[dict[str, Any]]
    provisional: bool


@dataclass(frozen=True)
class SegmentData:
    segment: dict[str, Any]
    members: int
    top_members: list[dict[str, Any]]
    by_category: dict[str, int]
    as_of: str


@dataclass(frozen=True)
class IndicatorsData:
    churn_model: dict[str, Any]
    upsell_model: dict[str, Any] | None
    churn: list[dict[str, Any]]
    upsell: list[dict[str, Any]]


@dataclass(frozen=True)
class FeaturesData:
    components: list[dict[str, Any]]
    configured: dict[str, list[str]]


def segments_message(data: SegmentsData, settings: DisplaySettings) -> Message:
    t = b.macros("catalog.j2")
    blocks = [b.header("Segments"), b.context(b.text_of(t.segments_intro(data)))]
    lines = [b.text_of(t.segment_line(s)) for s in data.segments]
    if lines:
        blocks.append(b.section(b.lines_within(lines, max_lines=40)))
    else:
        blocks.append(b.section("_No segments yet._"))
    return checked(f"{len(data.segments)} segments", blocks)


def segment_message(data: SegmentData, settings: DisplaySettings) -> Message:
    t = b.macros("catalog.j2")
    e = emoji_lookup(settings)
    seg = data.segment
    blocks = [b.header(b.text_of(t.segment_title(data))), b.section(b.text_of(t.segment_body(data))),
              b.context(b.text_of(t.category_counts(data, e)))]
    # Only metrics that vary within the segment: "Low < 0 · typical 0 · High > 0" says nothing.
    marks = [b.text_of(t.benchmark(metric, bm)) for metric, bm in sorted(seg["benchmarks"].items())
             if isinstance(bm, dict) and bm.get("varies", bm.get("low") != bm.get("high"))]
    if marks:
        blocks.append(b.section("*Benchmarks* (what Low/Medium/High mean here)\n"
                                + b.lines_within(marks, max_lines=15)))
    if data.top_members:
        blocks.append(b.section("*Largest members*\n" + "\n".join(
            b.text_of(t.member(a)) for a in data.top_members)))
    blocks.append(b.actions([b.button(":page_facing_up: Members as CSV", SEGMENT_CSV,
                                      str(seg["segment_id"]))], block_id="segment_csv"))
    return checked(f"Segment {seg['segment_id']}: {escape_mrkdwn(seg['name'])} ({data.members} accounts)",
                   blocks)


def indicators_message(data: IndicatorsData, settings: DisplaySettings) -> Message:
    t = b.macros("catalog.j2")
    blocks = [b.header("Leading Indicators"),
              b.context("How much each data component weighs in the predictions.")]
    for model, rows, kind in ((data.churn_model, data.churn, "Renewal Index"),
                              (data.upsell_model, data.upsell, "Upsell Index")):
        if model is None:
            continue
        lines = [b.text_of(t.indicator(i)) for i in rows] or ["_No indicators recorded._"]
        blocks.append(b.section(b.text_of(t.indicators_intro(model, kind)) + "\n"
                                + b.lines_within(lines, max_lines=20)))
    top = ", ".join(f"{escape_mrkdwn(i['component'])} {round(100 * i['weight'])}%" for i in data.churn[:3])
    return checked(f"Leading Indicators: {top or 'none yet'}", blocks)


def features_message(data: FeaturesData, settings: DisplaySettings) -> Message:
    t = b.macros("catalog.j2")
    lines = [b.text_of(t.feature(c)) for c in data.components]
    connected = sum(1 for c in data.components if c["connected"])
    blocks = [b.header("Health score features"),
              b.context(f"{connected} of {len(data.components)} data components connected. "
                        "Missing ones can be added to your export (see app.yaml `components`)."),
              b.section(b.lines_within(lines, max_lines=30))]
    marks = ", ".join(f"{'✅' if c['connected'] else '❌'} {escape_mrkdwn(c['component'])}"
                      for c in data.components)
    return checked(f"{connected} of {len(data.components)} data components connected: {marks}", blocks)
