//! Who may do what, where: the one authorization of Vigil, used by the SPA to show or
//! hide actions and by every function before it acts.
//!
//! The pieces, in the order a request meets them:
//!
//! 1. [`Permission`]: the 19 actions of the permission matrix, each grantable at
//!    subscription scope only or also at site scope ([`GrantScope`]).
//! 2. A role names a [`PermissionSet`]: a [`BuiltInRole`] (the seed's matrix) or a
//!    [`CustomRole`] of one subscription, referred to by a [`RoleRef`].
//! 3. A [`RoleAssignment`] gives a role to a principal (a user or a group,
//!    [`PrincipalRef`]) at a [`Scope`]: the subscription, one site, or a device group.
//!    Sites and device groups share one mechanism: a scope resolves to a [`Reach`],
//!    the whole subscription or a set of sites.
//! 4. [`Access`] folds a principal's assignments in ONE subscription into bitsets, so
//!    that [`Access::decide`] is a few bit tests and a lookup. Deny is the default.
//!
//! Choosing which subscription's assignments to pass in is the caller's job: an
//! [`Access`] knows nothing of subscriptions, so assignments from another
//! subscription must never be mixed in.

use std::collections::BTreeSet;
use std::fmt;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::model::{
    ApiTokenId, AssignmentId, DeviceGroup, DeviceGroupId, DisplayName, Email, GroupId, InvalidId,
    RoleId, SiteId, TagsOfSite,
};

/// An action of the permission matrix. The order is the seed table's row order, and
/// it is also each permission's bit in a [`PermissionSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    GrantPermissions,
    OnboardSensors,
    DownloadSensorSoftware,
    DownloadEndpointDetails,
    DownloadActivationFiles,
    ViewPlans,
    ModifyPlans,
    ViewSitesAndSensors,
    ModifySitesAndSensors,
    RecoverConsolePasswords,
    DownloadTiPackages,
    PushTiUpdates,
    OnboardEnterpriseIotPlan,
    ViewAlerts,
    ModifyAlerts,
    ViewDevices,
    ManageDevices,
    ViewWorkbooks,
    ManageWorkbooks,
}

/// Where a permission may be granted ("Apply per ..." in the seed table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    /// Only a subscription-scope assignment grants it.
    SubscriptionOnly,
    /// A site-scope assignment grants it too, for that site only.
    SubscriptionOrSite,
}

/// A permission name that is not one of the contract's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a known permission")]
pub struct UnknownPermission;

impl Permission {
    /// Every permission, in the seed table's row order.
    pub const ALL: [Permission; 19] = [
        Permission::GrantPermissions,
        Permission::OnboardSensors,
        Permission::DownloadSensorSoftware,
        Permission::DownloadEndpointDetails,
        Permission::DownloadActivationFiles,
        Permission::ViewPlans,
        Permission::ModifyPlans,
        Permission::ViewSitesAndSensors,
        Permission::ModifySitesAndSensors,
        Permission::RecoverConsolePasswords,
        Permission::DownloadTiPackages,
        Permission::PushTiUpdates,
        Permission::OnboardEnterpriseIotPlan,
        Permission::ViewAlerts,
        Permission::ModifyAlerts,
        Permission::ViewDevices,
        Permission::ManageDevices,
        Permission::ViewWorkbooks,
        Permission::ManageWorkbooks,
    ];

    /// The contract's name of the permission (its serde name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::GrantPermissions => "grant_permissions",
            Permission::OnboardSensors => "onboard_sensors",
            Permission::DownloadSensorSoftware => "download_sensor_software",
            Permission::DownloadEndpointDetails => "download_endpoint_details",
            Permission::DownloadActivationFiles => "download_activation_files",
            Permission::ViewPlans => "view_plans",
            Permission::ModifyPlans => "modify_plans",
            Permission::ViewSitesAndSensors => "view_sites_and_sensors",
            Permission::ModifySitesAndSensors => "modify_sites_and_sensors",
            Permission::RecoverConsolePasswords => "recover_console_passwords",
            Permission::DownloadTiPackages => "download_ti_packages",
            Permission::PushTiUpdates => "push_ti_updates",
            Permission::OnboardEnterpriseIotPlan => "onboard_enterprise_iot_plan",
            Permission::ViewAlerts => "view_alerts",
            Permission::ModifyAlerts => "modify_alerts",
            Permission::ViewDevices => "view_devices",
            Permission::ManageDevices => "manage_devices",
            Permission::ViewWorkbooks => "view_workbooks",
            Permission::ManageWorkbooks => "manage_workbooks",
        }
    }

    /// The permission as a person reads it: the seed table's action, shortened. The
    /// console names it when it explains why an action is not offered.
    pub const fn label(self) -> &'static str {
        match self {
            Permission::GrantPermissions => "Grant permissions",
            Permission::OnboardSensors => "Onboard sensors",
            Permission::DownloadSensorSoftware => "Download sensor software",
            Permission::DownloadEndpointDetails => "Download endpoint details",
            Permission::DownloadActivationFiles => "Download activation files",
            Permission::ViewPlans => "View plans",
            Permission::ModifyPlans => "Modify plans",
            Permission::ViewSitesAndSensors => "View sites and sensors",
            Permission::ModifySitesAndSensors => "Modify sites and sensors",
            Permission::RecoverConsolePasswords => "Recover console passwords",
            Permission::DownloadTiPackages => "Download TI packages",
            Permission::PushTiUpdates => "Push TI updates",
            Permission::OnboardEnterpriseIotPlan => "Onboard an Enterprise IoT plan",
            Permission::ViewAlerts => "View alerts",
            Permission::ModifyAlerts => "Modify alerts",
            Permission::ViewDevices => "View devices",
            Permission::ManageDevices => "Manage devices",
            Permission::ViewWorkbooks => "View workbooks",
            Permission::ManageWorkbooks => "Manage workbooks",
        }
    }

    pub fn parse(name: &str) -> Result<Self, UnknownPermission> {
        Self::ALL
            .into_iter()
            .find(|permission| permission.as_str() == name)
            .ok_or(UnknownPermission)
    }

    /// Where the permission may be granted, per the seed table's "Apply per" text.
    pub const fn grant_scope(self) -> GrantScope {
        use GrantScope::{SubscriptionOnly, SubscriptionOrSite};
        match self {
            Permission::GrantPermissions => SubscriptionOrSite,
            Permission::OnboardSensors => SubscriptionOnly,
            Permission::DownloadSensorSoftware => SubscriptionOnly,
            Permission::DownloadEndpointDetails => SubscriptionOnly,
            Permission::DownloadActivationFiles => SubscriptionOnly,
            Permission::ViewPlans => SubscriptionOnly,
            Permission::ModifyPlans => SubscriptionOnly,
            Permission::ViewSitesAndSensors => SubscriptionOnly,
            Permission::ModifySitesAndSensors => SubscriptionOnly,
            Permission::RecoverConsolePasswords => SubscriptionOnly,
            Permission::DownloadTiPackages => SubscriptionOnly,
            Permission::PushTiUpdates => SubscriptionOnly,
            Permission::OnboardEnterpriseIotPlan => SubscriptionOnly,
            Permission::ViewAlerts => SubscriptionOrSite,
            Permission::ModifyAlerts => SubscriptionOrSite,
            Permission::ViewDevices => SubscriptionOrSite,
            Permission::ManageDevices => SubscriptionOrSite,
            Permission::ViewWorkbooks => SubscriptionOrSite,
            Permission::ManageWorkbooks => SubscriptionOrSite,
        }
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions as a bitset: merging roles is an `|`, a check is an `&`.
///
/// Serialized as the list of permission names in [`Permission::ALL`] order, never as
/// bits, so stored roles survive a reordering of the enum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = Vec<Permission>)
)]
pub struct PermissionSet(u32);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);
    pub const ALL: PermissionSet = PermissionSet::from_slice(&Permission::ALL);
    /// The permissions a site-scope assignment can grant.
    pub const SITE_GRANTABLE: PermissionSet = {
        let mut set = PermissionSet::EMPTY;
        let mut index = 0;
        while index < Permission::ALL.len() {
            let permission = Permission::ALL[index];
            if matches!(permission.grant_scope(), GrantScope::SubscriptionOrSite) {
                set = set.with(permission);
            }
            index += 1;
        }
        set
    };

    pub const fn from_slice(permissions: &[Permission]) -> Self {
        let mut set = PermissionSet::EMPTY;
        let mut index = 0;
        while index < permissions.len() {
            set = set.with(permissions[index]);
            index += 1;
        }
        set
    }

    pub const fn with(self, permission: Permission) -> Self {
        PermissionSet(self.0 | permission.bit())
    }

    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub const fn contains_all(self, other: PermissionSet) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 | other.0)
    }

    pub const fn intersection(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 & other.0)
    }

    /// The permissions of `self` that `other` lacks.
    pub const fn difference(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The permissions in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(permissions: I) -> Self {
        permissions
            .into_iter()
            .fold(PermissionSet::EMPTY, PermissionSet::with)
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    /// A repeated name is accepted once: the set is what matters.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<Permission>::deserialize(deserializer)?;
        Ok(names.into_iter().collect())
    }
}

/// The built-in roles of the seed's permission matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltInRole {
    SecurityReader,
    SecurityAdmin,
    Contributor,
    Owner,
}

/// A cell of the matrix, named so that the table below reads like the seed's.
const YES: bool = true;
const NO: bool = false;

/// One row of the seed's permission matrix; columns in the seed's order:
/// `[security_reader, security_admin, contributor, owner]`.
///
/// The roles are not a hierarchy: only Security Admin may onboard an Enterprise IoT
/// plan, only Owner may grant permissions.
const fn matrix_row(permission: Permission) -> [bool; 4] {
    match permission {
        Permission::GrantPermissions => [NO, NO, NO, YES],
        Permission::OnboardSensors => [NO, YES, YES, YES],
        Permission::DownloadSensorSoftware => [YES, YES, YES, YES],
        Permission::DownloadEndpointDetails => [YES, YES, YES, YES],
        Permission::DownloadActivationFiles => [NO, YES, YES, YES],
        Permission::ViewPlans => [YES, YES, YES, YES],
        Permission::ModifyPlans => [NO, YES, YES, YES],
        Permission::ViewSitesAndSensors => [YES, YES, YES, YES],
        Permission::ModifySitesAndSensors => [NO, YES, YES, YES],
        Permission::RecoverConsolePasswords => [NO, YES, YES, YES],
        Permission::DownloadTiPackages => [YES, YES, YES, YES],
        Permission::PushTiUpdates => [NO, YES, YES, YES],
        Permission::OnboardEnterpriseIotPlan => [NO, YES, NO, NO],
        Permission::ViewAlerts => [YES, YES, YES, YES],
        Permission::ModifyAlerts => [NO, YES, YES, YES],
        Permission::ViewDevices => [YES, YES, YES, YES],
        Permission::ManageDevices => [NO, YES, YES, YES],
        Permission::ViewWorkbooks => [YES, YES, YES, YES],
        Permission::ManageWorkbooks => [NO, YES, YES, YES],
    }
}

impl BuiltInRole {
    pub const ALL: [BuiltInRole; 4] = [
        BuiltInRole::SecurityReader,
        BuiltInRole::SecurityAdmin,
        BuiltInRole::Contributor,
        BuiltInRole::Owner,
    ];

    /// The role's id in the contract (`owner`, ...), also its serde name.
    pub const fn id(self) -> &'static str {
        match self {
            BuiltInRole::SecurityReader => "security_reader",
            BuiltInRole::SecurityAdmin => "security_admin",
            BuiltInRole::Contributor => "contributor",
            BuiltInRole::Owner => "owner",
        }
    }

    pub const fn display_name(self) -> &'static str {
        match self {
            BuiltInRole::SecurityReader => "Security Reader",
            BuiltInRole::SecurityAdmin => "Security Admin",
            BuiltInRole::Contributor => "Contributor",
            BuiltInRole::Owner => "Owner",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.id() == id)
    }

    /// Whether the seed's matrix gives this role the permission.
    pub const fn grants(self, permission: Permission) -> bool {
        let column = match self {
            BuiltInRole::SecurityReader => 0,
            BuiltInRole::SecurityAdmin => 1,
            BuiltInRole::Contributor => 2,
            BuiltInRole::Owner => 3,
        };
        matrix_row(permission)[column]
    }

    pub const fn permissions(self) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        let mut index = 0;
        while index < Permission::ALL.len() {
            let permission = Permission::ALL[index];
            if self.grants(permission) {
                set = set.with(permission);
            }
            index += 1;
        }
        set
    }
}

/// A role defined by a subscription's administrators: a named set of permissions
/// (Defender for Endpoint's custom roles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRole {
    pub id: RoleId,
    pub name: DisplayName,
    pub permissions: PermissionSet,
}

/// A reference to a role, written as one string: a built-in role's id, or a custom
/// role's id. [`RoleId`] refuses the built-in ids, so reading it back is unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RoleRef {
    BuiltIn(BuiltInRole),
    Custom(RoleId),
}

pattern_schema!(
    RoleRef,
    format!("^{}$", crate::model::id_regex()),
    Some(
        "A role: a built-in role's id (security_reader, security_admin, contributor, owner) or a custom role's id."
    )
);

impl RoleRef {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        match BuiltInRole::from_id(raw) {
            Some(role) => Ok(RoleRef::BuiltIn(role)),
            None => RoleId::parse(raw).map(RoleRef::Custom),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            RoleRef::BuiltIn(role) => role.id(),
            RoleRef::Custom(id) => id.as_str(),
        }
    }
}

impl From<BuiltInRole> for RoleRef {
    fn from(role: BuiltInRole) -> Self {
        RoleRef::BuiltIn(role)
    }
}

impl TryFrom<String> for RoleRef {
    type Error = InvalidId;
    fn try_from(raw: String) -> Result<Self, InvalidId> {
        RoleRef::parse(&raw)
    }
}

impl From<RoleRef> for String {
    fn from(role: RoleRef) -> String {
        role.as_str().to_owned()
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who an assignment is given to, written as one string: a user's email, or
/// `group:<group id>`. An email never contains `:`, so the two never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PrincipalRef {
    User(Email),
    Group(GroupId),
}

const GROUP_PREFIX: &str = "group:";

pattern_schema!(
    PrincipalRef,
    principal_pattern(),
    Some("Who an assignment is given to: a user's email, or group:<group id>."),
    Some(crate::model::MAX_EMAIL_LEN)
);

/// The principals [`PrincipalRef::parse`] accepts, as an unanchored regular expression.
#[cfg(feature = "openapi")]
pub(crate) fn principal_regex() -> String {
    format!(
        "{}|{GROUP_PREFIX}{}",
        crate::model::email_regex(),
        crate::model::id_regex()
    )
}

#[cfg(feature = "openapi")]
fn principal_pattern() -> String {
    format!("^(?:{})$", principal_regex())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an email address or group:<group id>")]
pub struct InvalidPrincipal;

impl PrincipalRef {
    /// Whether this names an API token's service principal.
    pub fn is_api_token(&self) -> bool {
        matches!(self, PrincipalRef::User(email) if is_api_token_principal(email))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidPrincipal> {
        match raw.strip_prefix(GROUP_PREFIX) {
            Some(group) => GroupId::parse(group)
                .map(PrincipalRef::Group)
                .map_err(|_| InvalidPrincipal),
            None => Email::parse(raw)
                .map(PrincipalRef::User)
                .map_err(|_| InvalidPrincipal),
        }
    }
}

impl TryFrom<String> for PrincipalRef {
    type Error = InvalidPrincipal;
    fn try_from(raw: String) -> Result<Self, InvalidPrincipal> {
        PrincipalRef::parse(&raw)
    }
}

impl From<PrincipalRef> for String {
    fn from(principal: PrincipalRef) -> String {
        principal.to_string()
    }
}

impl fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalRef::User(email) => f.write_str(email.as_str()),
            PrincipalRef::Group(group) => write!(f, "{GROUP_PREFIX}{group}"),
        }
    }
}

/// API tokens act as service principals named by an address in this domain, as cloud
/// service accounts are: assignments, memberships and the audit log then treat them
/// like any user. `.invalid` is reserved (RFC 2606), so no mailbox has such an address,
/// and a provider's token claiming one is refused.
pub const API_TOKEN_DOMAIN: &str = "api-tokens.vigil.invalid";

/// The address of the service principal an API token acts as.
pub fn api_token_principal(token: &ApiTokenId) -> Email {
    Email::parse(&format!("{token}@{API_TOKEN_DOMAIN}")).expect("an id is a valid email local part")
}

/// Whether `email` names an API token's service principal rather than a person.
pub fn is_api_token_principal(email: &Email) -> bool {
    email
        .as_str()
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain == API_TOKEN_DOMAIN)
}

/// The authenticated caller: a user and the groups the identity provider says they
/// belong to, or an API token's service principal (no groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub email: Email,
    pub groups: BTreeSet<GroupId>,
}

impl Principal {
    /// Whether an assignment given to `principal` applies to this caller.
    pub fn is_named_by(&self, principal: &PrincipalRef) -> bool {
        match principal {
            PrincipalRef::User(email) => *email == self.email,
            PrincipalRef::Group(group) => self.groups.contains(group),
        }
    }
}

/// Where an assignment applies, as written by the administrator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Subscription,
    Site(SiteId),
    /// The sites a device group selects, decided anew at every request so that a newly
    /// tagged site is covered at once.
    DeviceGroup(DeviceGroupId),
}

/// An assignment names at most one of `site_id` and `device_group_id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("site_id and device_group_id cannot both be set")]
pub struct ConflictingScope;

impl Scope {
    /// The scope of the contract's `site_id` / `device_group_id` fields.
    pub fn from_fields(
        site_id: Option<SiteId>,
        device_group_id: Option<DeviceGroupId>,
    ) -> Result<Self, ConflictingScope> {
        match (site_id, device_group_id) {
            (None, None) => Ok(Scope::Subscription),
            (Some(site), None) => Ok(Scope::Site(site)),
            (None, Some(group)) => Ok(Scope::DeviceGroup(group)),
            (Some(_), Some(_)) => Err(ConflictingScope),
        }
    }

    pub fn site_id(&self) -> Option<&SiteId> {
        match self {
            Scope::Site(site) => Some(site),
            Scope::Subscription | Scope::DeviceGroup(_) => None,
        }
    }

    pub fn device_group_id(&self) -> Option<&DeviceGroupId> {
        match self {
            Scope::DeviceGroup(group) => Some(group),
            Scope::Subscription | Scope::Site(_) => None,
        }
    }

    /// Where the creator or remover of an assignment at this scope needs
    /// `grant_permissions`. A device group's sites change as sites are tagged, so only
    /// a subscription-wide granter may assign roles to one.
    pub fn granting_target(&self) -> Target<'_> {
        match self {
            Scope::Subscription | Scope::DeviceGroup(_) => Target::Subscription,
            Scope::Site(site) => Target::Site(site),
        }
    }
}

/// What a scope covers once resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    WholeSubscription,
    Sites(BTreeSet<SiteId>),
}

/// A role given to a principal at a scope, in one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RoleAssignmentFields", into = "RoleAssignmentFields")]
pub struct RoleAssignment {
    pub id: AssignmentId,
    pub principal: PrincipalRef,
    pub role: RoleRef,
    pub scope: Scope,
}

schema_as!(RoleAssignment => RoleAssignmentFields, "RoleAssignment");

/// The contract's shape of an assignment: `{"id", "principal", "role", "site_id",
/// "device_group_id"}`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct RoleAssignmentFields {
    id: AssignmentId,
    principal: PrincipalRef,
    role: RoleRef,
    site_id: Option<SiteId>,
    #[serde(default)]
    device_group_id: Option<DeviceGroupId>,
}

impl TryFrom<RoleAssignmentFields> for RoleAssignment {
    type Error = ConflictingScope;
    fn try_from(fields: RoleAssignmentFields) -> Result<Self, ConflictingScope> {
        Ok(RoleAssignment {
            id: fields.id,
            principal: fields.principal,
            role: fields.role,
            scope: Scope::from_fields(fields.site_id, fields.device_group_id)?,
        })
    }
}

impl From<RoleAssignment> for RoleAssignmentFields {
    fn from(assignment: RoleAssignment) -> Self {
        let (site_id, device_group_id) = match assignment.scope {
            Scope::Subscription => (None, None),
            Scope::Site(site) => (Some(site), None),
            Scope::DeviceGroup(group) => (None, Some(group)),
        };
        RoleAssignmentFields {
            id: assignment.id,
            principal: assignment.principal,
            role: assignment.role,
            site_id,
            device_group_id,
        }
    }
}

impl RoleAssignment {
    /// Whether this assignment keeps the subscription administrable: a person (not a
    /// group, which can be emptied outside Vigil, nor an API token, which expires) holding the built-in Owner role at
    /// subscription scope. Removing the last one is refused (`409`).
    pub fn is_subscription_owner(&self) -> bool {
        matches!(self.principal, PrincipalRef::User(_))
            && !self.principal.is_api_token()
            && self.role == RoleRef::BuiltIn(BuiltInRole::Owner)
            && self.scope == Scope::Subscription
    }
}

/// Why the assignment `removed` may not be taken out of `assignments`: it is the
/// subscription's last owner, and a subscription always keeps one. `None` if it may.
pub fn last_owner_refusal(
    assignments: &[RoleAssignment],
    removed: &AssignmentId,
) -> Option<&'static str> {
    let removes_an_owner = assignments
        .iter()
        .any(|a| &a.id == removed && a.is_subscription_owner());
    let others_remain = assignments
        .iter()
        .any(|a| &a.id != removed && a.is_subscription_owner());
    (removes_an_owner && !others_remain)
        .then_some("this is the subscription's last owner; assign another owner first")
}

/// Limits of one subscription's policy, which is stored as one item (at most 400 KB):
/// the worst case of each list together stays well under it.
pub const MAX_ASSIGNMENTS_PER_SUBSCRIPTION: usize = 500;
pub const MAX_CUSTOM_ROLES_PER_SUBSCRIPTION: usize = 50;
pub const MAX_DEVICE_GROUPS_PER_SUBSCRIPTION: usize = 50;

/// What the caller loads from one subscription to resolve assignments: its custom
/// roles, its device groups, and its sites' tags (only needed by tag-filter groups).
#[derive(Debug, Clone, Copy, Default)]
pub struct SubscriptionDirectory<'a> {
    pub custom_roles: &'a [CustomRole],
    pub device_groups: &'a [DeviceGroup],
    pub sites: &'a [TagsOfSite<'a>],
}

impl SubscriptionDirectory<'_> {
    /// The role's permissions; a deleted custom role grants nothing.
    pub fn role_permissions(&self, role: &RoleRef) -> PermissionSet {
        match role {
            RoleRef::BuiltIn(role) => role.permissions(),
            RoleRef::Custom(id) => self
                .custom_roles
                .iter()
                .find(|custom| custom.id == *id)
                .map_or(PermissionSet::EMPTY, |custom| custom.permissions),
        }
    }

    /// The sites a scope covers; a deleted device group covers none.
    pub fn reach(&self, scope: &Scope) -> Reach {
        match scope {
            Scope::Subscription => Reach::WholeSubscription,
            Scope::Site(site) => Reach::Sites(BTreeSet::from([site.clone()])),
            Scope::DeviceGroup(id) => Reach::Sites(
                self.device_groups
                    .iter()
                    .find(|group| group.id == *id)
                    .map(|group| group.sites.resolve(self.sites))
                    .unwrap_or_default(),
            ),
        }
    }

    /// The grant a single assignment makes.
    pub fn grant(&self, assignment: &RoleAssignment) -> Grant {
        Grant {
            permissions: self.role_permissions(&assignment.role),
            reach: self.reach(&assignment.scope),
        }
    }
}

/// A resolved assignment: these permissions, over this reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub permissions: PermissionSet,
    pub reach: Reach,
}

/// What a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The subscription itself: its plans, sites, sensors, roles; or every site at once.
    Subscription,
    /// One site's resources: its alerts, devices, workbooks, site-scope assignments.
    Site(&'a SiteId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Where a permission is granted, for listing only what the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteFilter<'a> {
    /// Every site of the subscription.
    All,
    /// Only these sites, sorted and without repeats.
    Only(Vec<&'a SiteId>),
    /// No site at all.
    None,
}

/// One principal's access in one subscription, folded into bitsets once per request.
///
/// A decision tests the subscription-wide set first (one bit test), and only for a
/// site-grantable permission held at some site looks the site up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    holds_assignment: bool,
    subscription_wide: PermissionSet,
    /// The union of `per_site`, to deny without a lookup.
    at_some_site: PermissionSet,
    /// Only site-grantable permissions, never empty sets. Hashed with FxHash: a
    /// binary search comparing 26-character ids measured ~70 ns per decision, this
    /// under 10 ns (`benches/authz.rs`). Its keys come from stored assignments,
    /// never from a request, so a weak hash invites no collision flooding.
    per_site: FxHashMap<SiteId, PermissionSet>,
}

impl Access {
    /// Folds resolved assignments. A grant reaching sites keeps only the
    /// site-grantable part of its permissions.
    pub fn from_grants(grants: impl IntoIterator<Item = Grant>) -> Self {
        let mut holds_assignment = false;
        let mut subscription_wide = PermissionSet::EMPTY;
        let mut per_site: FxHashMap<SiteId, PermissionSet> = FxHashMap::default();
        for grant in grants {
            holds_assignment = true;
            match grant.reach {
                Reach::WholeSubscription => {
                    subscription_wide = subscription_wide.union(grant.permissions);
                }
                Reach::Sites(sites) => {
                    let at_site = grant
                        .permissions
                        .intersection(PermissionSet::SITE_GRANTABLE);
                    if at_site.is_empty() {
                        continue;
                    }
                    for site in sites {
                        let held = per_site.entry(site).or_default();
                        *held = held.union(at_site);
                    }
                }
            }
        }
        let at_some_site = per_site
            .values()
            .fold(PermissionSet::EMPTY, |union, held| union.union(*held));
        Access {
            holds_assignment,
            subscription_wide,
            at_some_site,
            per_site,
        }
    }

    /// The access of `principal` given every assignment of one subscription: those
    /// naming the principal or one of their groups count, the others are ignored.
    pub fn for_principal(
        principal: &Principal,
        assignments: &[RoleAssignment],
        directory: &SubscriptionDirectory<'_>,
    ) -> Self {
        Access::from_grants(
            assignments
                .iter()
                .filter(|assignment| principal.is_named_by(&assignment.principal))
                .map(|assignment| directory.grant(assignment)),
        )
    }

    /// Whether the principal holds any assignment in the subscription, whatever it
    /// grants. Without one the subscription is invisible (`404`), with one a refused
    /// action is `403`.
    pub fn holds_assignment(&self) -> bool {
        self.holds_assignment
    }

    /// The decision: may the principal use `permission` on `target`? Deny unless an
    /// assignment grants it there.
    #[inline]
    pub fn decide(&self, permission: Permission, target: Target<'_>) -> Decision {
        let allowed = self.subscription_wide.contains(permission)
            || match target {
                Target::Subscription => false,
                Target::Site(site) => {
                    self.at_some_site.contains(permission)
                        && self.held_at_site(site).contains(permission)
                }
            };
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// The decision for an action needing several permissions (e.g. managing an
    /// Enterprise IoT plan): allowed only if every one is held at `target`.
    pub fn decide_all(&self, required: PermissionSet, target: Target<'_>) -> Decision {
        if self.permissions_at(target).contains_all(required) {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// Every permission held at `target`, for the SPA to show or hide actions.
    #[inline]
    pub fn permissions_at(&self, target: Target<'_>) -> PermissionSet {
        match target {
            Target::Subscription => self.subscription_wide,
            Target::Site(site) => self.subscription_wide.union(self.held_at_site(site)),
        }
    }

    #[inline]
    fn held_at_site(&self, site: &SiteId) -> PermissionSet {
        if self.at_some_site.is_empty() {
            return PermissionSet::EMPTY;
        }
        self.per_site.get(site).copied().unwrap_or_default()
    }

    /// The sites where `permission` is granted: all of them for a subscription-wide
    /// grant, else the sites of site-reach grants (sorted), else none.
    pub fn sites_with(&self, permission: Permission) -> SiteFilter<'_> {
        if self.subscription_wide.contains(permission) {
            return SiteFilter::All;
        }
        if !self.at_some_site.contains(permission) {
            return SiteFilter::None;
        }
        let mut sites: Vec<&SiteId> = self
            .per_site
            .iter()
            .filter(|(_, held)| held.contains(permission))
            .map(|(site, _)| site)
            .collect();
        sites.sort_unstable();
        SiteFilter::Only(sites)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_owner_at_subscription_scope_is_kept_from_removal() {
        let assignment =
            |id: &str, principal: &str, role: &str, site: Option<&str>| -> RoleAssignment {
                serde_json::from_value(serde_json::json!({
                    "id": id, "principal": principal, "role": role, "site_id": site,
                }))
                .unwrap()
            };
        let id = |raw: &str| AssignmentId::parse(raw).unwrap();
        let mut all = vec![
            assignment("a1", "owner@plants.test", "owner", None),
            assignment("a2", "north@plants.test", "owner", Some("north")),
            assignment("a3", "reader@plants.test", "security_reader", None),
        ];
        assert!(last_owner_refusal(&all, &id("a1")).is_some());
        assert_eq!(last_owner_refusal(&all, &id("a2")), None);
        assert_eq!(last_owner_refusal(&all, &id("a3")), None);
        let token = api_token_principal(&ApiTokenId::parse("tok1").unwrap());
        all.push(assignment("a5", token.as_str(), "owner", None));
        assert!(
            last_owner_refusal(&all, &id("a1")).is_some(),
            "an owner API token does not keep the subscription administrable"
        );
        all.push(assignment("a4", "second@plants.test", "owner", None));
        assert_eq!(last_owner_refusal(&all, &id("a1")), None);
    }

    #[test]
    fn api_token_principals_are_told_from_people_by_their_reserved_domain() {
        let token = api_token_principal(&ApiTokenId::parse("Tok_1").unwrap());
        assert_eq!(token.as_str(), "tok_1@api-tokens.vigil.invalid");
        assert!(is_api_token_principal(&token));
        for person in [
            "ana@plants.test",
            "x@vigil.invalid",
            "a@sub.api-tokens.vigil.invalid",
        ] {
            assert!(
                !is_api_token_principal(&Email::parse(person).unwrap()),
                "{person}"
            );
        }
    }

    fn site(id: &str) -> SiteId {
        SiteId::parse(id).unwrap()
    }

    #[test]
    fn permission_names_round_trip_through_parse_and_serde() {
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.as_str()), Ok(permission));
            let json = serde_json::to_string(&permission).unwrap();
            assert_eq!(json, format!("\"{}\"", permission.as_str()));
        }
        assert_eq!(Permission::parse("sudo"), Err(UnknownPermission));
    }

    #[test]
    fn permission_set_serializes_as_names_in_table_order_and_merges_repeats() {
        let set = PermissionSet::from_slice(&[Permission::ViewAlerts, Permission::ViewPlans]);
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["view_plans","view_alerts"]"#
        );
        let parsed: PermissionSet =
            serde_json::from_str(r#"["view_alerts","view_plans","view_alerts"]"#).unwrap();
        assert_eq!(parsed, set);
        assert_eq!(parsed.len(), 2);
        assert!(serde_json::from_str::<PermissionSet>(r#"["fly"]"#).is_err());
    }

    #[test]
    fn role_refs_read_built_in_ids_as_built_in_and_refuse_them_as_custom_ids() {
        assert_eq!(
            RoleRef::parse("owner"),
            Ok(RoleRef::BuiltIn(BuiltInRole::Owner))
        );
        assert_eq!(
            RoleRef::parse("01HZX3"),
            Ok(RoleRef::Custom(RoleId::parse("01HZX3").unwrap()))
        );
        assert_eq!(RoleId::parse("Owner"), Err(InvalidId::BuiltInRoleName));
        assert_eq!(
            RoleId::parse("security_admin"),
            Err(InvalidId::BuiltInRoleName)
        );
        assert!(RoleRef::parse("not a role").is_err());
    }

    #[test]
    fn principal_refs_are_emails_or_prefixed_group_ids() {
        let user = PrincipalRef::parse("Ana@Example.com").unwrap();
        assert_eq!(user.to_string(), "ana@example.com");
        let group = PrincipalRef::parse("group:tier-1").unwrap();
        assert_eq!(
            group,
            PrincipalRef::Group(GroupId::parse("tier-1").unwrap())
        );
        assert_eq!(group.to_string(), "group:tier-1");
        assert_eq!(PrincipalRef::parse("group:"), Err(InvalidPrincipal));
        assert_eq!(PrincipalRef::parse("tier-1"), Err(InvalidPrincipal));
    }

    #[test]
    fn assignment_serializes_in_the_contract_shape() {
        let assignment = RoleAssignment {
            id: AssignmentId::parse("a1").unwrap(),
            principal: PrincipalRef::parse("ana@example.com").unwrap(),
            role: BuiltInRole::SecurityReader.into(),
            scope: Scope::Site(site("plant-1")),
        };
        let json = serde_json::to_value(&assignment).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "a1", "principal": "ana@example.com",
                "role": "security_reader", "site_id": "plant-1", "device_group_id": null})
        );
        let back: RoleAssignment = serde_json::from_value(json).unwrap();
        assert_eq!(back, assignment);
        let both = serde_json::json!({"id": "a1", "principal": "ana@example.com",
            "role": "owner", "site_id": "s", "device_group_id": "g"});
        assert!(serde_json::from_value::<RoleAssignment>(both).is_err());
    }

    #[test]
    fn only_user_owners_at_subscription_scope_keep_a_subscription_administrable() {
        let owner = |principal: &str, scope: Scope| RoleAssignment {
            id: AssignmentId::parse("a").unwrap(),
            principal: PrincipalRef::parse(principal).unwrap(),
            role: BuiltInRole::Owner.into(),
            scope,
        };
        assert!(owner("ana@example.com", Scope::Subscription).is_subscription_owner());
        assert!(!owner("ana@example.com", Scope::Site(site("s"))).is_subscription_owner());
        assert!(!owner("group:admins", Scope::Subscription).is_subscription_owner());
    }

    #[test]
    fn site_filter_lists_sites_sorted_once() {
        let access = Access::from_grants([
            Grant {
                permissions: BuiltInRole::SecurityReader.permissions(),
                reach: Reach::Sites(BTreeSet::from([site("b"), site("a")])),
            },
            Grant {
                permissions: BuiltInRole::SecurityAdmin.permissions(),
                reach: Reach::Sites(BTreeSet::from([site("b")])),
            },
        ]);
        assert_eq!(
            access.sites_with(Permission::ViewAlerts),
            SiteFilter::Only(vec![&site("a"), &site("b")])
        );
        assert_eq!(
            access.sites_with(Permission::ModifyAlerts),
            SiteFilter::Only(vec![&site("b")])
        );
        assert_eq!(access.sites_with(Permission::ViewPlans), SiteFilter::None);
    }
}
