//! Monitoring plans: what kind, what commitment, how many committed devices, and
//! whether a plan is live.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::authz::{Permission, PermissionSet};
use crate::model::{ENTERPRISE_NETWORK_SITE_ID, SiteId};

/// Committed devices are sold in blocks of this size.
pub const COMMITTED_DEVICES_STEP: u32 = 100;
/// The largest commitment accepted: far above any fleet, low enough that sums of
/// plans never overflow.
pub const MAX_COMMITTED_DEVICES: u32 = 1_000_000;
/// A trial's committed devices, fixed (seed 004: "1,000 committed devices for 30 days").
pub const TRIAL_COMMITTED_DEVICES: CommittedDevices = CommittedDevices(1000);
pub const TRIAL_LENGTH: Duration = Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Ot,
    EnterpriseIot,
}

impl PlanKind {
    pub const ALL: [PlanKind; 2] = [PlanKind::Ot, PlanKind::EnterpriseIot];

    /// The kind's name in the contract, also its serde name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PlanKind::Ot => "ot",
            PlanKind::EnterpriseIot => "enterprise_iot",
        }
    }

    /// The kind of plan that must cover the devices of `site`: the Enterprise network
    /// site holds what Enterprise IoT sensors detect; every other site is OT.
    pub fn covering_site(site: &SiteId) -> PlanKind {
        if site.as_str() == ENTERPRISE_NETWORK_SITE_ID {
            PlanKind::EnterpriseIot
        } else {
            PlanKind::Ot
        }
    }

    /// What adding, changing or cancelling a plan of this kind needs, at subscription
    /// scope. Enterprise IoT plans also need `onboard_enterprise_iot_plan`, which only
    /// Security Admin holds among the built-in roles.
    pub const fn permissions_to_manage(self) -> PermissionSet {
        match self {
            PlanKind::Ot => PermissionSet::from_slice(&[Permission::ModifyPlans]),
            PlanKind::EnterpriseIot => PermissionSet::from_slice(&[
                Permission::ModifyPlans,
                Permission::OnboardEnterpriseIotPlan,
            ]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Commitment {
    Trial,
    Monthly,
    Annual,
}

/// A number of committed devices: a positive multiple of 100, at most
/// [`MAX_COMMITTED_DEVICES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct CommittedDevices(u32);

named_schema!(CommittedDevices, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(100))
        .maximum(Some(MAX_COMMITTED_DEVICES))
        .multiple_of(Some(100))
        .description(Some("A positive multiple of 100."))
        .into()
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a positive multiple of 100 up to 1000000")]
pub struct InvalidCommittedDevices;

impl CommittedDevices {
    pub fn new(devices: u64) -> Result<Self, InvalidCommittedDevices> {
        let step = u64::from(COMMITTED_DEVICES_STEP);
        if devices == 0
            || !devices.is_multiple_of(step)
            || devices > u64::from(MAX_COMMITTED_DEVICES)
        {
            return Err(InvalidCommittedDevices);
        }
        u32::try_from(devices)
            .map(CommittedDevices)
            .map_err(|_| InvalidCommittedDevices)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// How many detected devices exceed the commitment, if any.
    pub fn excess(self, detected_devices: u64) -> Option<u64> {
        detected_devices
            .checked_sub(u64::from(self.0))
            .filter(|over| *over > 0)
    }
}

impl TryFrom<u64> for CommittedDevices {
    type Error = InvalidCommittedDevices;
    fn try_from(devices: u64) -> Result<Self, InvalidCommittedDevices> {
        CommittedDevices::new(devices)
    }
}

impl From<CommittedDevices> for u32 {
    fn from(devices: CommittedDevices) -> u32 {
        devices.0
    }
}

impl fmt::Display for CommittedDevices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why requested plan terms are refused. Each names the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanTermsError {
    #[error("committed_devices must be omitted or 1000 for a trial")]
    TrialDevices,
    #[error("committed_devices is required for a monthly or annual commitment")]
    MissingDevices,
    /// An illegal state change (`409`): a trial is only ever a plan's first terms.
    #[error("commitment cannot change back to trial")]
    BackToTrial,
}

impl PlanTermsError {
    /// The request field the error is about.
    pub const fn field(&self) -> &'static str {
        match self {
            PlanTermsError::TrialDevices | PlanTermsError::MissingDevices => "committed_devices",
            PlanTermsError::BackToTrial => "commitment",
        }
    }
}

/// The committed devices a new plan gets: a trial's are fixed, the others must be
/// given.
pub fn committed_devices_for(
    commitment: Commitment,
    requested: Option<CommittedDevices>,
) -> Result<CommittedDevices, PlanTermsError> {
    match (commitment, requested) {
        (Commitment::Trial, None) => Ok(TRIAL_COMMITTED_DEVICES),
        (Commitment::Trial, Some(devices)) if devices == TRIAL_COMMITTED_DEVICES => Ok(devices),
        (Commitment::Trial, Some(_)) => Err(PlanTermsError::TrialDevices),
        (Commitment::Monthly | Commitment::Annual, Some(devices)) => Ok(devices),
        (Commitment::Monthly | Commitment::Annual, None) => Err(PlanTermsError::MissingDevices),
    }
}

/// A plan's commitment, devices and end. Only trials end by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanTerms {
    pub commitment: Commitment,
    pub committed_devices: CommittedDevices,
    pub expires_at: Option<OffsetDateTime>,
}

impl PlanTerms {
    /// The terms of a plan created at `now`: a trial is 1000 devices until
    /// `now + 30 days`.
    pub fn new(
        commitment: Commitment,
        requested: Option<CommittedDevices>,
        now: OffsetDateTime,
    ) -> Result<Self, PlanTermsError> {
        Ok(PlanTerms {
            commitment,
            committed_devices: committed_devices_for(commitment, requested)?,
            expires_at: matches!(commitment, Commitment::Trial).then(|| now + TRIAL_LENGTH),
        })
    }

    /// The terms after a `PATCH`. Leaving a trial for a paid commitment keeps the
    /// device count unless a new one is given and removes the end date; a trial keeps
    /// its original end date (patching never extends it).
    pub fn change(
        self,
        commitment: Option<Commitment>,
        committed_devices: Option<CommittedDevices>,
    ) -> Result<Self, PlanTermsError> {
        let commitment = commitment.unwrap_or(self.commitment);
        match (self.commitment, commitment) {
            (Commitment::Trial, Commitment::Trial) => Ok(PlanTerms {
                committed_devices: committed_devices_for(Commitment::Trial, committed_devices)?,
                ..self
            }),
            (Commitment::Monthly | Commitment::Annual, Commitment::Trial) => {
                Err(PlanTermsError::BackToTrial)
            }
            (_, Commitment::Monthly | Commitment::Annual) => Ok(PlanTerms {
                commitment,
                committed_devices: committed_devices.unwrap_or(self.committed_devices),
                expires_at: None,
            }),
        }
    }

    pub fn status(&self, cancelled_at: Option<OffsetDateTime>, now: OffsetDateTime) -> PlanStatus {
        match (cancelled_at, self.expires_at) {
            (Some(_), _) => PlanStatus::Cancelled,
            (None, Some(expires_at)) if now >= expires_at => PlanStatus::Expired,
            (None, _) => PlanStatus::Live,
        }
    }
}

/// A plan is live until it is cancelled or, for a trial, until it expires. Only one
/// live plan per kind per subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Live,
    Expired,
    Cancelled,
}

/// A plan is over-committed when it is live and the inventory it covers holds more
/// committed devices (by the seed's counting rules) than it commits to.
pub fn is_over_committed(
    status: PlanStatus,
    committed_devices: CommittedDevices,
    detected_devices: u64,
) -> bool {
    status == PlanStatus::Live && committed_devices.excess(detected_devices).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn devices(count: u64) -> CommittedDevices {
        CommittedDevices::new(count).unwrap()
    }

    #[test]
    fn a_trial_is_1000_devices_for_30_days_whether_or_not_1000_is_given() {
        for requested in [None, Some(devices(1000))] {
            let terms = PlanTerms::new(Commitment::Trial, requested, NOW).unwrap();
            assert_eq!(terms.committed_devices.get(), 1000);
            assert_eq!(terms.expires_at, Some(datetime!(2024-03-31 12:00 UTC)));
        }
    }

    #[test]
    fn a_trial_with_another_device_count_is_refused_naming_committed_devices() {
        let error = PlanTerms::new(Commitment::Trial, Some(devices(500)), NOW).unwrap_err();
        assert_eq!(error, PlanTermsError::TrialDevices);
        assert_eq!(error.field(), "committed_devices");
    }

    #[test]
    fn paid_commitments_need_devices_and_never_expire() {
        let error = PlanTerms::new(Commitment::Monthly, None, NOW).unwrap_err();
        assert_eq!(error.field(), "committed_devices");
        let terms = PlanTerms::new(Commitment::Annual, Some(devices(2000)), NOW).unwrap();
        assert_eq!(terms.committed_devices.get(), 2000);
        assert_eq!(terms.expires_at, None);
    }

    #[test]
    fn changing_a_trial_to_monthly_drops_the_end_date_and_never_goes_back() {
        let trial = PlanTerms::new(Commitment::Trial, None, NOW).unwrap();
        let monthly = trial
            .change(Some(Commitment::Monthly), Some(devices(1700)))
            .unwrap();
        assert_eq!(monthly.committed_devices.get(), 1700);
        assert_eq!(monthly.expires_at, None);
        assert_eq!(
            monthly.change(Some(Commitment::Trial), None),
            Err(PlanTermsError::BackToTrial)
        );
        assert_eq!(
            trial.change(None, Some(devices(2000))),
            Err(PlanTermsError::TrialDevices)
        );
        assert_eq!(trial.change(None, None), Ok(trial));
    }

    #[test]
    fn status_is_live_until_expiry_or_cancellation() {
        let trial = PlanTerms::new(Commitment::Trial, None, NOW).unwrap();
        assert_eq!(trial.status(None, NOW), PlanStatus::Live);
        assert_eq!(
            trial.status(None, NOW + Duration::days(30) - Duration::seconds(1)),
            PlanStatus::Live
        );
        assert_eq!(
            trial.status(None, NOW + Duration::days(30)),
            PlanStatus::Expired
        );
        assert_eq!(trial.status(Some(NOW), NOW), PlanStatus::Cancelled);
        let annual = PlanTerms::new(Commitment::Annual, Some(devices(100)), NOW).unwrap();
        assert_eq!(
            annual.status(None, NOW + Duration::days(3650)),
            PlanStatus::Live
        );
    }

    #[test]
    fn over_commitment_counts_only_devices_beyond_the_commitment() {
        assert_eq!(devices(1000).excess(999), None);
        assert_eq!(devices(1000).excess(1000), None);
        assert_eq!(devices(1000).excess(1042), Some(42));
    }

    #[test]
    fn only_a_live_plan_with_more_detected_than_committed_devices_is_over_committed() {
        assert!(!is_over_committed(PlanStatus::Live, devices(1000), 1000));
        assert!(is_over_committed(PlanStatus::Live, devices(1000), 1001));
        assert!(!is_over_committed(
            PlanStatus::Cancelled,
            devices(1000),
            5000
        ));
        assert!(!is_over_committed(PlanStatus::Expired, devices(1000), 5000));
    }

    #[test]
    fn the_enterprise_network_site_is_covered_by_enterprise_iot_plans_and_others_by_ot() {
        let site = |id| SiteId::parse(id).unwrap();
        assert_eq!(
            PlanKind::covering_site(&site(ENTERPRISE_NETWORK_SITE_ID)),
            PlanKind::EnterpriseIot
        );
        assert_eq!(PlanKind::covering_site(&site("01HX0PLANT")), PlanKind::Ot);
        for kind in PlanKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
    }

    #[test]
    fn committed_devices_deserialize_only_when_valid() {
        assert_eq!(
            serde_json::from_str::<CommittedDevices>("1700").unwrap(),
            devices(1700)
        );
        for refused in ["0", "150", "-100", "1000100", "1e3", "\"100\""] {
            assert!(
                serde_json::from_str::<CommittedDevices>(refused).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn enterprise_iot_plans_also_need_the_onboarding_permission() {
        assert!(
            PlanKind::EnterpriseIot
                .permissions_to_manage()
                .contains(Permission::OnboardEnterpriseIotPlan)
        );
        assert!(
            !PlanKind::Ot
                .permissions_to_manage()
                .contains(Permission::OnboardEnterpriseIotPlan)
        );
    }
}
