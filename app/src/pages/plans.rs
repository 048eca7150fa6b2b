//! `/s/{sub}/plans`: Plans and pricing — the plans per kind, add (with the
//! committed-device estimate beside the input), edit, cancel, over-commit warnings.

use leptos::prelude::*;

use crate::components::load::Load;
use shared::api::{CreatePlan, Plan, UpdatePlan};
use shared::authz::{Permission, PermissionSet};
use shared::model::{
    COMMITTED_DEVICES_STEP, Commitment, CommittedDevices, PlanKind, PlanStatus,
    TRIAL_COMMITTED_DEVICES,
};

use crate::api::plans;
use crate::components::action::Guarded;
use crate::components::dialog::{Confirm, Dialog};
use crate::components::states::{Denied, Empty, loaded};
use crate::components::toast::use_toasts;
use crate::logic::denial::At;
use crate::logic::format::{count, utc_date};
use crate::logic::query::parse_enum;
use crate::pages::overview::plan_kind_name;
use crate::tenant::use_tenant;
use crate::use_api;

pub fn commitment_name(commitment: Commitment) -> &'static str {
    match commitment {
        Commitment::Trial => "Trial",
        Commitment::Monthly => "Monthly",
        Commitment::Annual => "Annual",
    }
}

const COMMITMENTS: [Commitment; 3] = [Commitment::Trial, Commitment::Monthly, Commitment::Annual];

/// The plan form as typed: a trial is always 1000 devices, other commitments take a
/// positive multiple of 100 (`shared`'s rule, [`CommittedDevices::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanForm {
    pub kind: PlanKind,
    pub commitment: Commitment,
    pub committed_devices: String,
}

impl Default for PlanForm {
    fn default() -> Self {
        PlanForm {
            kind: PlanKind::Ot,
            commitment: Commitment::Annual,
            committed_devices: String::new(),
        }
    }
}

impl PlanForm {
    pub fn devices(&self) -> Result<Option<CommittedDevices>, String> {
        if self.commitment == Commitment::Trial {
            return Ok(None);
        }
        let devices: u64 = self
            .committed_devices
            .trim()
            .parse()
            .map_err(|_| "Committed devices must be a whole number.".to_owned())?;
        CommittedDevices::new(devices)
            .map(Some)
            .map_err(|e| format!("Committed devices {e}."))
    }

    pub fn to_create(&self) -> Result<CreatePlan, String> {
        Ok(CreatePlan {
            kind: self.kind,
            commitment: self.commitment,
            committed_devices: self.devices()?,
        })
    }

    pub fn to_update(&self) -> Result<UpdatePlan, String> {
        Ok(UpdatePlan {
            commitment: Some(self.commitment),
            committed_devices: match self.commitment {
                Commitment::Trial => Some(TRIAL_COMMITTED_DEVICES),
                _ => self.devices()?,
            },
        })
    }
}

#[component]
pub fn Plans() -> impl IntoView {
    let tenant = use_tenant();
    let view_plans = PermissionSet::from_slice(&[Permission::ViewPlans]);
    match tenant.with_untracked(|t| t.denial(view_plans, &At::Subscription)) {
        Some(reason) => view! { <h1>"Plans and pricing"</h1><Denied reason /> }.into_any(),
        None => view! { <PlansAndPricing /> }.into_any(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Open {
    Add,
    Edit(Plan),
    Cancel(Plan),
}

#[component]
fn PlansAndPricing() -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let list = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move { plans::list(api, &sub).await.map(|page| page.items) }
    });
    let open = RwSignal::new(None::<Open>);
    let busy = RwSignal::new(false);
    let close = Callback::new(move |()| open.set(None));
    let changed = Callback::new(move |()| {
        open.set(None);
        list.refetch();
    });
    let cancel = move |plan: Plan| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            match plans::cancel(api, &sub, &plan.id).await {
                Ok(()) => {
                    toasts.info(format!("{} plan cancelled", plan_kind_name(plan.kind)));
                    changed.run(());
                }
                Err(error) => toasts.error(format!("Could not cancel the plan: {error}")),
            }
            busy.set(false);
        });
    };
    view! {
        <h1>"Plans and pricing"</h1>
        <div class="toolbar" role="toolbar" aria-label="Plan actions">
            <Guarded label="Add plan" needs=PermissionSet::from_slice(&[Permission::ModifyPlans]) at=At::Subscription on_click=move |_| open.set(Some(Open::Add)) />
        </div>
        {move || loaded(list.get(), "plans", move || list.refetch(), move |plans| plan_table(plans, open))}
        {move || open.get().map(|which| match which {
            Open::Add => view! { <PlanDialog plan=None on_close=close on_saved=changed /> }.into_any(),
            Open::Edit(plan) => view! { <PlanDialog plan=Some(plan) on_close=close on_saved=changed /> }.into_any(),
            Open::Cancel(plan) => {
                let name = plan_kind_name(plan.kind);
                view! {
                    <Confirm
                        title=format!("Cancel the {name} plan")
                        message="Monitoring under this plan stops being billed and covered. This cannot be undone; add a new plan to resume."
                        confirm="Cancel plan"
                        on_confirm=move |_| cancel(plan.clone())
                        on_close=close
                        busy=busy
                    />
                }
                    .into_any()
            }
        })}
    }
}

fn status_name(status: PlanStatus) -> &'static str {
    match status {
        PlanStatus::Live => "Live",
        PlanStatus::Expired => "Expired",
        PlanStatus::Cancelled => "Cancelled",
    }
}

fn plan_table(plans: Vec<Plan>, open: RwSignal<Option<Open>>) -> AnyView {
    if plans.is_empty() {
        return view! { <Empty message="No plans yet: add one to cover the devices your sensors detect." /> }.into_any();
    }
    let warnings: Vec<_> = plans
        .iter()
        .filter(|p| p.over_committed)
        .map(|p| {
            let over = p.committed_devices.excess(p.detected_devices).unwrap_or(0);
            view! {
                <p class="warning" role="alert">
                    {format!(
                        "The {} plan covers {} devices but {} are detected ({} over): raise the commitment.",
                        plan_kind_name(p.kind),
                        count(u64::from(p.committed_devices.get())),
                        count(p.detected_devices),
                        count(over)
                    )}
                </p>
            }
        })
        .collect();
    view! {
        {warnings}
        <table class="grid" id="plans">
            <thead>
                <tr>
                    <th scope="col">"Plan"</th>
                    <th scope="col">"Commitment"</th>
                    <th scope="col">"Committed devices"</th>
                    <th scope="col">"Detected devices"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {plans.into_iter().map(|plan| {
                    let live = plan.status == PlanStatus::Live;
                    let manage = plan.kind.permissions_to_manage();
                    let not_live = Signal::derive(move || (!live).then(|| "Only a live plan can change".to_owned()));
                    let (edit, cancel) = (plan.clone(), plan.clone());
                    view! {
                        <tr class="plan" data-kind=plan.kind.as_str()>
                            <td>{plan_kind_name(plan.kind)}</td>
                            <td>{commitment_name(plan.commitment)}</td>
                            <td>{count(u64::from(plan.committed_devices.get()))}</td>
                            <td class=if plan.over_committed { "over" } else { "" }>{count(plan.detected_devices)}</td>
                            <td>{status_name(plan.status)}</td>
                            <td>{plan.expires_at.map(utc_date).unwrap_or_default()}</td>
                            <td class="row-actions">
                                <Guarded label="Edit" needs=manage at=At::Subscription blocked=not_live on_click=move |_| open.set(Some(Open::Edit(edit.clone()))) />
                                <Guarded label="Cancel plan" class="danger" needs=manage at=At::Subscription blocked=not_live on_click=move |_| open.set(Some(Open::Cancel(cancel.clone()))) />
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Add a plan (`plan: None`) or change one.
#[component]
fn PlanDialog(
    plan: Option<Plan>,
    #[prop(into)] on_close: Callback<()>,
    #[prop(into)] on_saved: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let tenant = use_tenant();
    let toasts = use_toasts();
    let editing = plan.clone();
    let form = RwSignal::new(match &plan {
        Some(plan) => PlanForm {
            kind: plan.kind,
            commitment: plan.commitment,
            committed_devices: plan.committed_devices.to_string(),
        },
        None => PlanForm::default(),
    });
    let problem = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let estimate = Load::new(move || {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let kind = form.with(|f| f.kind);
        async move { plans::estimate(api, &sub, kind).await }
    });
    let eiot_denied = tenant.with_untracked(|t| {
        t.denial(
            PlanKind::EnterpriseIot.permissions_to_manage(),
            &At::Subscription,
        )
    });
    let save = move |_| {
        let sub = tenant.with_untracked(|t| t.id.clone());
        let answers = form.get_untracked();
        let editing = editing.clone();
        let request = match &editing {
            None => answers.to_create().map(Ok),
            Some(_) => answers.to_update().map(Err),
        };
        let request = match request {
            Ok(request) => request,
            Err(message) => {
                problem.set(Some(message));
                return;
            }
        };
        saving.set(true);
        leptos::task::spawn_local(async move {
            let answer = match (request, &editing) {
                (Ok(create), _) => plans::create(api, &sub, &create).await,
                (Err(update), Some(plan)) => {
                    plans::update(api, &sub, &plan.id, &update, None).await
                }
                (Err(_), None) => unreachable!("an update is made only for an existing plan"),
            };
            match answer {
                Ok(plan) => {
                    toasts.info(format!("{} plan saved", plan_kind_name(plan.kind)));
                    on_saved.run(());
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
            saving.set(false);
        });
    };
    let title = if plan.is_some() {
        "Edit plan"
    } else {
        "Add plan"
    };
    let adding = plan.is_none();
    view! {
        <Dialog title on_close>
            <div class="stack">
                <label for="plan-kind">"Plan"</label>
                <select id="plan-kind" disabled=!adding on:change=move |e| {
                    if let Some(kind) = parse_enum::<PlanKind>(&event_target_value(&e)) {
                        form.update(|f| f.kind = kind);
                    }
                }>
                    {PlanKind::ALL.into_iter().map(|kind| {
                        let denied = kind == PlanKind::EnterpriseIot && eiot_denied.is_some();
                        let selected = form.with_untracked(|f| f.kind == kind);
                        view! { <option value=kind.as_str() selected=selected disabled=denied>{plan_kind_name(kind)}</option> }
                    }).collect_view()}
                </select>
                {eiot_denied.clone().filter(|_| adding).map(|reason| view! {
                    <p class="hint" id="eiot-denied">{format!("Enterprise IoT plan not offered: {reason}")}</p>
                })}
                <label for="plan-commitment">"Commitment"</label>
                <select id="plan-commitment" on:change=move |e| {
                    if let Some(commitment) = parse_enum::<Commitment>(&event_target_value(&e)) {
                        form.update(|f| f.commitment = commitment);
                    }
                }>
                    {COMMITMENTS.into_iter().map(|c| {
                        let selected = form.with_untracked(|f| f.commitment == c);
                        let value = match c { Commitment::Trial => "trial", Commitment::Monthly => "monthly", Commitment::Annual => "annual" };
                        view! { <option value=value selected=selected>{commitment_name(c)}</option> }
                    }).collect_view()}
                </select>
                <label for="plan-devices">"Committed devices"</label>
                <div class="with-aside">
                    <input
                        id="plan-devices"
                        type="number"
                        min=COMMITTED_DEVICES_STEP
                        step=COMMITTED_DEVICES_STEP
                        disabled=move || form.with(|f| f.commitment == Commitment::Trial)
                        prop:value=move || form.with(|f| if f.commitment == Commitment::Trial { TRIAL_COMMITTED_DEVICES.to_string() } else { f.committed_devices.clone() })
                        on:input=move |e| form.update(|f| f.committed_devices = event_target_value(&e))
                    />
                    <aside class="estimate" aria-live="polite" id="plan-estimate">
                        {move || match estimate.get() {
                            None => view! { <span>"Estimating…"</span> }.into_any(),
                            Some(Err(error)) => view! { <span class="error">{format!("No estimate: {error}")}</span> }.into_any(),
                            Some(Ok(e)) => {
                                let suggested = e.committed_devices.max(u64::from(COMMITTED_DEVICES_STEP));
                                view! {
                                    <span>
                                        "Estimate: "<strong>{count(e.committed_devices)}</strong>
                                        {format!(
                                            " — {} devices counted, rounded up to the next {COMMITTED_DEVICES_STEP}. Public-internet, multicast and broadcast addresses, devices inactive over 30 days and endpoint-managed devices are not counted.",
                                            count(e.counted_devices)
                                        )}
                                    </span>
                                    <button type="button" class="link" on:click=move |_| form.update(|f| f.committed_devices = suggested.to_string())>
                                        "Use estimate"
                                    </button>
                                }
                                    .into_any()
                            }
                        }}
                    </aside>
                </div>
                <p class="hint">"Plans are sold in blocks of 100 devices; a trial covers 1,000 devices for 30 days."</p>
            </div>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <div class="buttons">
                <button type="button" disabled=move || saving.get() on:click=save>"Save"</button>
                <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </Dialog>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_takes_no_device_count_and_others_a_multiple_of_100() {
        let trial = PlanForm {
            commitment: Commitment::Trial,
            committed_devices: "17".into(),
            ..Default::default()
        };
        assert_eq!(trial.to_create().unwrap().committed_devices, None);
        let annual = PlanForm {
            committed_devices: "1700".into(),
            ..Default::default()
        };
        assert_eq!(
            annual
                .to_create()
                .unwrap()
                .committed_devices
                .map(CommittedDevices::get),
            Some(1700)
        );
        let odd = PlanForm {
            committed_devices: "1679".into(),
            ..Default::default()
        };
        assert!(
            odd.to_create()
                .unwrap_err()
                .starts_with("Committed devices must be a positive multiple of 100")
        );
        let text = PlanForm {
            committed_devices: "many".into(),
            ..Default::default()
        };
        assert_eq!(
            text.to_create().unwrap_err(),
            "Committed devices must be a whole number."
        );
    }

    #[test]
    fn changing_to_a_trial_sends_the_trial_size() {
        let form = PlanForm {
            commitment: Commitment::Trial,
            ..Default::default()
        };
        assert_eq!(
            form.to_update().unwrap().committed_devices,
            Some(TRIAL_COMMITTED_DEVICES)
        );
    }
}
