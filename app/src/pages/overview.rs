//! `/s/{sub}`: sensor health donut and score, open alerts by severity, alerts over the
//! last 30 days, plan usage. Each card loads, fails and refreshes on its own, and says
//! which permission it needs when the user lacks it.

use leptos::prelude::*;

use crate::components::load::Load;
use shared::api::{AlertSummary, Plan, SensorHealthSummary};
use shared::authz::{Permission, SiteFilter};
use shared::model::{PlanKind, PlanStatus, Severity};

use crate::api::{alerts, plans, sensors};
use crate::components::charts::{Bars, Column, Columns, Datum, Donut};
use crate::components::live::refresh_while_visible;
use crate::components::states::{Empty, loaded};
use crate::logic::denial::{At, needs};
use crate::logic::format::count;
use crate::routes::Page;
use crate::tenant::use_tenant;
use crate::use_api;

use shared::api::SeverityCounts;

const SEVERITIES: [Severity; 4] = SeverityCounts::SEVERITIES;

pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::Major => "Major",
        Severity::Minor => "Minor",
        Severity::Warning => "Warning",
    }
}

pub fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "sev-critical",
        Severity::Major => "sev-major",
        Severity::Minor => "sev-minor",
        Severity::Warning => "sev-warning",
    }
}

#[component]
pub fn Overview() -> impl IntoView {
    view! {
        <h1>"Overview"</h1>
        <div class="cards">
            <SensorHealthCard />
            <OpenAlertsCard />
            <PlanUsageCard />
        </div>
    }
}

/// A card's frame, or the access-denied note in its place.
#[component]
fn Card(#[prop(into)] title: String, denied: Option<String>, children: Children) -> impl IntoView {
    let label = title.clone();
    view! {
        <section class="card" aria-label=label>
            <h2>{title}</h2>
            {match denied {
                Some(reason) => view! { <p class="denied-note" role="note">{reason}</p> }.into_any(),
                None => children().into_any(),
            }}
        </section>
    }
}

#[component]
fn SensorHealthCard() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let denied = tenant
        .with_untracked(|t| t.denial(needs(Permission::ViewSitesAndSensors), &At::Subscription));
    let allowed = denied.is_none();
    let summary = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move {
            if allowed {
                sensors::health_summary(api, &sub).await.map(Some)
            } else {
                Ok(None)
            }
        }
    });
    refresh_while_visible(move || summary.refetch());
    let sub = tenant.with_untracked(|t| t.id.clone());
    view! {
        <Card title="Sensor health" denied>
            {move || {
                let sub = sub.clone();
                loaded(summary.get(), "sensor health", move || summary.refetch(), move |summary| {
                    match summary {
                        Some(summary) if summary.total > 0 => health_donut(summary, &sub),
                        _ => view! { <Empty message="No sensors yet: onboard one from Sites and sensors." /> }.into_any(),
                    }
                })
            }}
        </Card>
    }
}

/// The share of healthy sensors, as the portal's health score.
pub fn health_score(summary: &SensorHealthSummary) -> u64 {
    if summary.total == 0 {
        return 100;
    }
    summary.healthy * 100 / summary.total
}

fn health_donut(summary: SensorHealthSummary, sub: &shared::model::SubscriptionId) -> AnyView {
    let data = vec![
        Datum {
            label: "Healthy".into(),
            value: summary.healthy,
            class: "h-healthy",
        },
        Datum {
            label: "Unhealthy".into(),
            value: summary.unhealthy,
            class: "h-unhealthy",
        },
        Datum {
            label: "Unsupported".into(),
            value: summary.unsupported,
            class: "h-unsupported",
        },
        Datum {
            label: "Disconnected".into(),
            value: summary.disconnected,
            class: "h-disconnected",
        },
    ];
    let score = health_score(&summary);
    view! {
        <Donut data center=format!("{score}%") label=format!("Health score {score}%, {} sensors", summary.total) />
        <p class="score">
            "Health score "<strong id="health-score">{format!("{score}%")}</strong>
            {format!(" of {} sensors · ", count(summary.total))}
            <a href=Page::Sites.href(sub)>"Sites and sensors"</a>
        </p>
    }
    .into_any()
}

#[component]
fn OpenAlertsCard() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let denied = tenant.with_untracked(|t| match t.access.sites_with(Permission::ViewAlerts) {
        SiteFilter::None => t.denial(needs(Permission::ViewAlerts), &At::Subscription),
        _ => None,
    });
    let allowed = denied.is_none();
    let summary = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move {
            if allowed {
                alerts::summary(api, &sub).await.map(Some)
            } else {
                Ok(None)
            }
        }
    });
    refresh_while_visible(move || summary.refetch());
    let denied_again = denied.clone();
    view! {
        <Card title="Open alerts by severity" denied>
            {move || loaded(summary.get(), "open alerts", move || summary.refetch(), open_alerts)}
        </Card>
        <Card title="Alerts over the last 30 days" denied=denied_again>
            {move || loaded(summary.get(), "alerts over time", move || summary.refetch(), daily_alerts)}
        </Card>
    }
}

fn open_alerts(summary: Option<AlertSummary>) -> AnyView {
    let Some(summary) = summary else {
        return ().into_any();
    };
    if summary.open.total() == 0 {
        return view! { <Empty message="No open alerts." /> }.into_any();
    }
    let data = SEVERITIES
        .into_iter()
        .map(|s| Datum {
            label: severity_name(s).into(),
            value: summary.open.get(s),
            class: severity_class(s),
        })
        .collect();
    view! {
        <p class="big"><strong id="open-alerts">{count(summary.open.total())}</strong>" open"</p>
        <Bars data label="Open alerts by severity" />
    }
    .into_any()
}

fn daily_alerts(summary: Option<AlertSummary>) -> AnyView {
    let Some(summary) = summary else {
        return ().into_any();
    };
    let total: u64 = summary.daily.iter().map(|day| day.counts.total()).sum();
    if total == 0 {
        return view! { <Empty message="No alerts in the last 30 days." /> }.into_any();
    }
    let columns = summary
        .daily
        .into_iter()
        .map(|day| Column {
            label: day.date,
            stack: SEVERITIES
                .into_iter()
                .map(|s| Datum {
                    label: severity_name(s).into(),
                    value: day.counts.get(s),
                    class: severity_class(s),
                })
                .collect(),
        })
        .collect();
    view! {
        <p class="big"><strong>{count(total)}</strong>" detected"</p>
        <Columns columns label=format!("{total} alerts first detected in the last 30 days, by day and severity") />
    }
    .into_any()
}

#[component]
fn PlanUsageCard() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let denied =
        tenant.with_untracked(|t| t.denial(needs(Permission::ViewPlans), &At::Subscription));
    let allowed = denied.is_none();
    let list = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move {
            if allowed {
                plans::list(api, &sub).await.map(|page| page.items)
            } else {
                Ok(Vec::new())
            }
        }
    });
    refresh_while_visible(move || list.refetch());
    let sub = tenant.with_untracked(|t| t.id.clone());
    view! {
        <Card title="Plan usage" denied>
            {move || {
                let sub = sub.clone();
                loaded(list.get(), "plans", move || list.refetch(), move |plans| plan_usage(plans, &sub))
            }}
        </Card>
    }
}

pub fn plan_kind_name(kind: PlanKind) -> &'static str {
    match kind {
        PlanKind::Ot => "OT",
        PlanKind::EnterpriseIot => "Enterprise IoT",
    }
}

fn plan_usage(plans: Vec<Plan>, sub: &shared::model::SubscriptionId) -> AnyView {
    let live: Vec<Plan> = plans
        .into_iter()
        .filter(|p| p.status == PlanStatus::Live)
        .collect();
    if live.is_empty() {
        return view! {
            <Empty message="No live plan." />
            <a href=Page::Plans.href(sub)>"Plans and pricing"</a>
        }
        .into_any();
    }
    live.into_iter()
        .map(|plan| {
            let committed = u64::from(plan.committed_devices.get());
            let percent = (plan.detected_devices * 100 / committed.max(1)).min(100);
            view! {
                <div class="usage">
                    <p>
                        <strong>{format!("{} plan", plan_kind_name(plan.kind))}</strong>
                        {format!(": {} detected of {} committed devices", count(plan.detected_devices), count(committed))}
                    </p>
                    <div class="progress" role="meter" aria-valuemin="0" aria-valuemax=committed.to_string() aria-valuenow=plan.detected_devices.to_string()>
                        <div class=if plan.over_committed { "bar over" } else { "bar" } style=format!("width: {percent}%")></div>
                    </div>
                    {plan.over_committed.then(|| view! {
                        <p class="warning" role="alert">"Detected devices exceed the commitment: raise it on Plans and pricing."</p>
                    })}
                </div>
            }
        })
        .collect_view()
        .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_score_is_the_share_of_healthy_sensors() {
        let mut summary = SensorHealthSummary::default();
        assert_eq!(health_score(&summary), 100);
        summary.healthy = 3;
        summary.unhealthy = 1;
        summary.total = 4;
        assert_eq!(health_score(&summary), 75);
    }
}
