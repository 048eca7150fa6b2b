//! Charts in plain SVG: a donut is a few circles, bars are rects. Every chart has a
//! text equivalent, so colour is never the only signal.

use leptos::prelude::*;

/// One slice or bar: its label, value and CSS class (the colour).
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub label: String,
    pub value: u64,
    pub class: &'static str,
}

/// The circumference of the donut's circle (r = 15.915 makes it 100).
const CIRCUMFERENCE: f64 = 100.0;

#[component]
pub fn Donut(
    data: Vec<Datum>,
    #[prop(into)] center: String,
    #[prop(into)] label: String,
) -> impl IntoView {
    let total: u64 = data.iter().map(|d| d.value).sum();
    let mut offset = 0.0;
    let slices: Vec<_> = data
        .iter()
        .filter(|d| d.value > 0)
        .map(|d| {
            let length = d.value as f64 / total.max(1) as f64 * CIRCUMFERENCE;
            let slice = view! {
                <circle
                    class=format!("slice {}", d.class)
                    cx="21" cy="21" r="15.915" fill="transparent" stroke-width="6"
                    stroke-dasharray=format!("{length:.3} {:.3}", CIRCUMFERENCE - length)
                    stroke-dashoffset=format!("{:.3}", 25.0 - offset)
                ></circle>
            };
            offset += length;
            slice
        })
        .collect();
    view! {
        <figure class="donut">
            <svg viewBox="0 0 42 42" role="img" aria-label=label>
                <circle class="ring" cx="21" cy="21" r="15.915" fill="transparent" stroke-width="6"></circle>
                {slices}
                <text x="21" y="22.5" text-anchor="middle" class="donut-center">{center}</text>
            </svg>
            <Legend data />
        </figure>
    }
}

#[component]
pub fn Legend(data: Vec<Datum>) -> impl IntoView {
    view! {
        <ul class="legend">
            {data
                .into_iter()
                .map(|d| {
                    view! {
                        <li>
                            <span class=format!("swatch {}", d.class)></span>
                            {d.label}
                            ": "
                            <strong>{d.value}</strong>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// Horizontal bars, one per datum, scaled to the largest.
#[component]
pub fn Bars(data: Vec<Datum>, #[prop(into)] label: String) -> impl IntoView {
    let max = data.iter().map(|d| d.value).max().unwrap_or(0).max(1);
    view! {
        <table class="bars" aria-label=label>
            <tbody>
                {data
                    .into_iter()
                    .map(|d| {
                        let width = d.value as f64 / max as f64 * 100.0;
                        view! {
                            <tr>
                                <th scope="row">{d.label}</th>
                                <td class="bar-cell">
                                    <span class=format!("hbar {}", d.class) style=format!("width: {width:.1}%")></span>
                                </td>
                                <td class="num">{d.value}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// One column per period (e.g. a day), stacked by series, with the totals as titles.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub label: String,
    pub stack: Vec<Datum>,
}

#[component]
pub fn Columns(columns: Vec<Column>, #[prop(into)] label: String) -> impl IntoView {
    let max = columns
        .iter()
        .map(|c| c.stack.iter().map(|d| d.value).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = 100.0 / columns.len().max(1) as f64;
    let first = columns.first().map(|c| c.label.clone()).unwrap_or_default();
    let last = columns.last().map(|c| c.label.clone()).unwrap_or_default();
    let bars: Vec<_> = columns
        .into_iter()
        .enumerate()
        .flat_map(|(index, column)| {
            let total: u64 = column.stack.iter().map(|d| d.value).sum();
            let x = index as f64 * width;
            let mut y = 40.0;
            column
                .stack
                .into_iter()
                .filter(|d| d.value > 0)
                .map(|d| {
                    let height = d.value as f64 / max as f64 * 40.0;
                    y -= height;
                    view! {
                        <rect
                            class=d.class
                            x=format!("{:.2}", x + width * 0.1)
                            y=format!("{y:.2}")
                            width=format!("{:.2}", width * 0.8)
                            height=format!("{height:.2}")
                        >
                            <title>{format!("{}: {} {} of {total}", column.label, d.value, d.label)}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    view! {
        <figure class="columns">
            <svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label=label>
                {bars}
            </svg>
            <figcaption class="axis">
                <span>{first}</span>
                <span>{last}</span>
            </figcaption>
        </figure>
    }
}
