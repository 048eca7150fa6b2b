//! Access decisions beyond the built-in matrix: custom roles, groups, device groups,
//! deny by default, site filters; and a differential check against a naive reading
//! of the rules.

use std::collections::BTreeSet;

use proptest::prelude::*;
use shared::authz::{
    Access, BuiltInRole, CustomRole, Decision, Grant, Permission, PermissionSet, Principal,
    PrincipalRef, Reach, RoleAssignment, RoleRef, Scope, SiteFilter, SubscriptionDirectory, Target,
};
use shared::model::{
    AssignmentId, DeviceGroup, DeviceGroupId, DisplayName, Email, GroupId, RoleId, SiteId,
    SiteSelector, TagFilter, Tags, TagsOfSite,
};

fn site(id: &str) -> SiteId {
    SiteId::parse(id).unwrap()
}

fn ana() -> Principal {
    Principal {
        email: Email::parse("ana@example.com").unwrap(),
        groups: BTreeSet::from([GroupId::parse("tier-1").unwrap()]),
    }
}

fn assignment(principal: &str, role: RoleRef, scope: Scope) -> RoleAssignment {
    RoleAssignment {
        id: AssignmentId::parse("a").unwrap(),
        principal: PrincipalRef::parse(principal).unwrap(),
        role,
        scope,
    }
}

fn tags(json: serde_json::Value) -> Tags {
    serde_json::from_value(json).unwrap()
}

fn tier_one_role() -> CustomRole {
    CustomRole {
        id: RoleId::parse("tier-1-analyst").unwrap(),
        name: DisplayName::parse("Tier 1 analyst").unwrap(),
        permissions: PermissionSet::from_slice(&[
            Permission::ViewAlerts,
            Permission::ModifyAlerts,
            Permission::ViewPlans,
        ]),
    }
}

#[test]
fn without_assignments_everything_is_denied_and_the_subscription_is_invisible() {
    // GIVEN no assignment naming the principal
    let others = [assignment(
        "bo@example.com",
        BuiltInRole::Owner.into(),
        Scope::Subscription,
    )];
    let access = Access::for_principal(&ana(), &others, &SubscriptionDirectory::default());
    // THEN nothing is allowed anywhere, and the subscription is hidden (404)
    assert!(!access.holds_assignment());
    for permission in Permission::ALL {
        assert_eq!(
            access.decide(permission, Target::Subscription),
            Decision::Deny
        );
        assert_eq!(
            access.decide(permission, Target::Site(&site("plant-1"))),
            Decision::Deny
        );
        assert_eq!(access.sites_with(permission), SiteFilter::None);
    }
    assert_eq!(
        access.permissions_at(Target::Subscription),
        PermissionSet::EMPTY
    );
}

#[test]
fn an_assignment_granting_nothing_still_makes_the_subscription_visible() {
    // GIVEN only a site assignment of a role with no site-grantable permission
    let assignments = [assignment(
        "ana@example.com",
        BuiltInRole::SecurityReader.into(),
        Scope::Site(site("plant-1")),
    )];
    let only_plans = CustomRole {
        permissions: PermissionSet::from_slice(&[Permission::ViewPlans]),
        ..tier_one_role()
    };
    let roles = [only_plans.clone()];
    let directory = SubscriptionDirectory {
        custom_roles: &roles,
        ..SubscriptionDirectory::default()
    };
    let plans_at_site = [assignment(
        "ana@example.com",
        RoleRef::Custom(only_plans.id),
        Scope::Site(site("plant-1")),
    )];
    let access = Access::for_principal(&ana(), &plans_at_site, &directory);
    // THEN it is visible (403, not 404) but grants nothing
    assert!(access.holds_assignment());
    assert_eq!(
        access.permissions_at(Target::Site(&site("plant-1"))),
        PermissionSet::EMPTY
    );
    assert!(Access::for_principal(&ana(), &assignments, &directory).holds_assignment());
}

#[test]
fn a_custom_role_grants_its_permissions_and_only_site_grantable_ones_at_a_site() {
    let roles = [tier_one_role()];
    let directory = SubscriptionDirectory {
        custom_roles: &roles,
        ..SubscriptionDirectory::default()
    };
    let role = RoleRef::Custom(tier_one_role().id);
    // GIVEN the custom role at subscription scope
    let wide = Access::for_principal(
        &ana(),
        &[assignment(
            "ana@example.com",
            role.clone(),
            Scope::Subscription,
        )],
        &directory,
    );
    assert_eq!(
        wide.permissions_at(Target::Subscription),
        tier_one_role().permissions
    );
    // GIVEN the custom role at one site: view_plans is subscription-only, so dropped
    let at_site = Access::for_principal(
        &ana(),
        &[assignment(
            "ana@example.com",
            role,
            Scope::Site(site("plant-1")),
        )],
        &directory,
    );
    assert_eq!(
        at_site.permissions_at(Target::Site(&site("plant-1"))),
        PermissionSet::from_slice(&[Permission::ViewAlerts, Permission::ModifyAlerts])
    );
    assert_eq!(
        at_site.decide(Permission::ViewPlans, Target::Subscription),
        Decision::Deny
    );
}

#[test]
fn a_deleted_custom_role_grants_nothing() {
    let access = Access::for_principal(
        &ana(),
        &[assignment(
            "ana@example.com",
            RoleRef::Custom(RoleId::parse("gone").unwrap()),
            Scope::Subscription,
        )],
        &SubscriptionDirectory::default(),
    );
    assert_eq!(
        access.permissions_at(Target::Subscription),
        PermissionSet::EMPTY
    );
}

#[test]
fn a_group_assignment_applies_to_its_members_only() {
    let assignments = [assignment(
        "group:tier-1",
        BuiltInRole::SecurityReader.into(),
        Scope::Site(site("plant-1")),
    )];
    let member = Access::for_principal(&ana(), &assignments, &SubscriptionDirectory::default());
    assert!(
        member
            .decide(Permission::ViewAlerts, Target::Site(&site("plant-1")))
            .is_allowed()
    );
    let outsider = Principal {
        groups: BTreeSet::new(),
        ..ana()
    };
    let not_member =
        Access::for_principal(&outsider, &assignments, &SubscriptionDirectory::default());
    assert!(!not_member.holds_assignment());
}

#[test]
fn user_and_group_assignments_add_up() {
    let assignments = [
        assignment(
            "group:tier-1",
            BuiltInRole::SecurityReader.into(),
            Scope::Subscription,
        ),
        assignment(
            "ana@example.com",
            BuiltInRole::SecurityAdmin.into(),
            Scope::Site(site("plant-2")),
        ),
    ];
    let access = Access::for_principal(&ana(), &assignments, &SubscriptionDirectory::default());
    assert!(
        access
            .decide(Permission::ViewAlerts, Target::Site(&site("plant-1")))
            .is_allowed()
    );
    assert!(
        !access
            .decide(Permission::ModifyAlerts, Target::Site(&site("plant-1")))
            .is_allowed()
    );
    assert!(
        access
            .decide(Permission::ModifyAlerts, Target::Site(&site("plant-2")))
            .is_allowed()
    );
    assert_eq!(access.sites_with(Permission::ViewAlerts), SiteFilter::All);
    assert_eq!(
        access.sites_with(Permission::ModifyAlerts),
        SiteFilter::Only(vec![&site("plant-2")])
    );
}

#[test]
fn a_device_group_of_listed_sites_grants_like_site_assignments_there() {
    let groups = [DeviceGroup {
        id: DeviceGroupId::parse("north").unwrap(),
        name: DisplayName::parse("North plants").unwrap(),
        sites: SiteSelector::Sites(BTreeSet::from([site("plant-1"), site("plant-3")])),
    }];
    let directory = SubscriptionDirectory {
        device_groups: &groups,
        ..SubscriptionDirectory::default()
    };
    let assignments = [assignment(
        "ana@example.com",
        BuiltInRole::Contributor.into(),
        Scope::DeviceGroup(groups[0].id.clone()),
    )];
    let access = Access::for_principal(&ana(), &assignments, &directory);
    for listed in ["plant-1", "plant-3"] {
        assert_eq!(
            access.permissions_at(Target::Site(&site(listed))),
            BuiltInRole::Contributor
                .permissions()
                .intersection(PermissionSet::SITE_GRANTABLE)
        );
    }
    assert_eq!(
        access.permissions_at(Target::Site(&site("plant-2"))),
        PermissionSet::EMPTY
    );
    assert_eq!(
        access.permissions_at(Target::Subscription),
        PermissionSet::EMPTY
    );
}

#[test]
fn a_device_group_tag_filter_covers_the_sites_tagged_now() {
    // GIVEN three sites, two tagged region=emea
    let emea = tags(serde_json::json!({"region": "emea", "tier": "1"}));
    let also_emea = tags(serde_json::json!({"region": "emea"}));
    let americas = tags(serde_json::json!({"region": "amer"}));
    let (plant_1, plant_2, plant_3) = (site("plant-1"), site("plant-2"), site("plant-3"));
    let sites = [
        TagsOfSite {
            site: &plant_1,
            tags: &emea,
        },
        TagsOfSite {
            site: &plant_2,
            tags: &americas,
        },
        TagsOfSite {
            site: &plant_3,
            tags: &also_emea,
        },
    ];
    let groups = [DeviceGroup {
        id: DeviceGroupId::parse("emea").unwrap(),
        name: DisplayName::parse("EMEA").unwrap(),
        sites: SiteSelector::Tags(
            TagFilter::new(tags(serde_json::json!({"region": "emea"}))).unwrap(),
        ),
    }];
    let directory = SubscriptionDirectory {
        device_groups: &groups,
        sites: &sites,
        ..SubscriptionDirectory::default()
    };
    // WHEN a reader is assigned over the group
    let access = Access::for_principal(
        &ana(),
        &[assignment(
            "ana@example.com",
            BuiltInRole::SecurityReader.into(),
            Scope::DeviceGroup(groups[0].id.clone()),
        )],
        &directory,
    );
    // THEN exactly the tagged sites are readable
    assert_eq!(
        access.sites_with(Permission::ViewDevices),
        SiteFilter::Only(vec![&plant_1, &plant_3])
    );
    assert_eq!(
        access.decide(Permission::ViewDevices, Target::Site(&plant_2)),
        Decision::Deny
    );
}

#[test]
fn a_deleted_device_group_covers_no_site() {
    let access = Access::for_principal(
        &ana(),
        &[assignment(
            "ana@example.com",
            BuiltInRole::Owner.into(),
            Scope::DeviceGroup(DeviceGroupId::parse("gone").unwrap()),
        )],
        &SubscriptionDirectory::default(),
    );
    assert!(access.holds_assignment());
    assert_eq!(access.sites_with(Permission::ViewAlerts), SiteFilter::None);
}

#[test]
fn granting_at_a_device_group_needs_grant_permissions_subscription_wide() {
    let site_owner = Access::from_grants([Grant {
        permissions: BuiltInRole::Owner.permissions(),
        reach: Reach::Sites(BTreeSet::from([site("plant-1")])),
    }]);
    let at_site = Scope::Site(site("plant-1"));
    let at_group = Scope::DeviceGroup(DeviceGroupId::parse("north").unwrap());
    assert!(
        site_owner
            .decide(Permission::GrantPermissions, at_site.granting_target())
            .is_allowed()
    );
    assert!(
        !site_owner
            .decide(Permission::GrantPermissions, at_group.granting_target())
            .is_allowed()
    );
}

#[test]
fn managing_an_enterprise_iot_plan_needs_both_permissions() {
    use shared::model::PlanKind;
    let contributor = Access::from_grants([Grant {
        permissions: BuiltInRole::Contributor.permissions(),
        reach: Reach::WholeSubscription,
    }]);
    let admin = Access::from_grants([Grant {
        permissions: BuiltInRole::SecurityAdmin.permissions(),
        reach: Reach::WholeSubscription,
    }]);
    let required = PlanKind::EnterpriseIot.permissions_to_manage();
    assert_eq!(
        contributor.decide_all(required, Target::Subscription),
        Decision::Deny
    );
    assert_eq!(
        admin.decide_all(required, Target::Subscription),
        Decision::Allow
    );
    assert_eq!(
        contributor.decide_all(PlanKind::Ot.permissions_to_manage(), Target::Subscription),
        Decision::Allow
    );
}

// ----- differential: Access against a naive reading of the rules -----

const SITES: [&str; 4] = ["a", "b", "c", "d"];

/// The rule as the contract words it, one grant at a time, no precomputation.
fn naive_decide(grants: &[Grant], permission: Permission, target: Option<&SiteId>) -> bool {
    grants.iter().any(|grant| {
        grant.permissions.contains(permission)
            && match (&grant.reach, target) {
                (Reach::WholeSubscription, _) => true,
                (Reach::Sites(_), None) => false,
                (Reach::Sites(sites), Some(site)) => {
                    sites.contains(site) && PermissionSet::SITE_GRANTABLE.contains(permission)
                }
            }
    })
}

fn any_grant() -> impl Strategy<Value = Grant> {
    let permissions = any::<u32>().prop_map(|bits| {
        Permission::ALL
            .into_iter()
            .enumerate()
            .filter(|(index, _)| bits & (1 << index) != 0)
            .map(|(_, permission)| permission)
            .collect::<PermissionSet>()
    });
    let reach = prop_oneof![
        1 => Just(Reach::WholeSubscription),
        4 => proptest::sample::subsequence(SITES.to_vec(), 0..=SITES.len())
            .prop_map(|sites| Reach::Sites(sites.into_iter().map(site).collect())),
    ];
    (permissions, reach).prop_map(|(permissions, reach)| Grant { permissions, reach })
}

proptest! {
    #[test]
    fn access_decides_exactly_like_the_naive_rule(grants in proptest::collection::vec(any_grant(), 0..6)) {
        let access = Access::from_grants(grants.clone());
        prop_assert_eq!(access.holds_assignment(), !grants.is_empty());
        let targets: Vec<Option<SiteId>> = std::iter::once(None)
            .chain(SITES.iter().chain(["elsewhere"].iter()).map(|id| Some(site(id))))
            .collect();
        for permission in Permission::ALL {
            for target in &targets {
                let decided = match target {
                    None => access.decide(permission, Target::Subscription),
                    Some(site) => access.decide(permission, Target::Site(site)),
                };
                prop_assert_eq!(
                    decided.is_allowed(),
                    naive_decide(&grants, permission, target.as_ref()),
                    "{} at {:?}", permission, target
                );
            }
            let expected_filter: Vec<SiteId> = SITES
                .iter()
                .map(|id| site(id))
                .filter(|site| naive_decide(&grants, permission, Some(site)))
                .collect();
            match access.sites_with(permission) {
                SiteFilter::All => prop_assert!(naive_decide(&grants, permission, None)),
                SiteFilter::Only(sites) => {
                    prop_assert!(!sites.is_empty());
                    prop_assert_eq!(sites.into_iter().cloned().collect::<Vec<_>>(), expected_filter);
                }
                SiteFilter::None => prop_assert!(expected_filter.is_empty()),
            }
        }
    }
}
