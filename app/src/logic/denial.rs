//! Why an action is not offered: the decision is `shared::authz`'s, the sentence is
//! the console's ("Needs Modify alerts at Plant North — you hold Security Reader").

use shared::api::MyAssignment;
use shared::authz::{Access, Permission, PermissionSet, Reach, RoleRef, SiteFilter, Target};
use shared::model::SiteId;

/// Where an action applies, owned so that a view can keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Subscription,
    Site(SiteId),
    /// Some site, whichever: an action over items of several sites (a bulk change),
    /// which the server then decides item by item.
    AnySite,
}

/// What an action that needs one permission needs.
pub fn needs(permission: Permission) -> PermissionSet {
    PermissionSet::from_slice(&[permission])
}

/// `None` when `access` grants every permission of `needs` at `at`; otherwise the
/// reason, naming the missing permissions, the scope and the roles the user holds.
pub fn denial(
    access: &Access,
    held: &[MyAssignment],
    needs: PermissionSet,
    at: &At,
    site_name: &dyn Fn(&SiteId) -> String,
) -> Option<String> {
    let missing = match at {
        At::Subscription => missing_at(access, needs, Target::Subscription),
        At::Site(site) => missing_at(access, needs, Target::Site(site)),
        At::AnySite => needs
            .iter()
            .filter(|&p| access.sites_with(p) == SiteFilter::None)
            .collect(),
    };
    if missing.is_empty() {
        return None;
    }
    let missing: Vec<&str> = missing.iter().map(|p| p.label()).collect();
    let scope = match at {
        At::Subscription => "subscription scope".to_owned(),
        At::Site(site) => site_name(site),
        At::AnySite => "any site".to_owned(),
    };
    Some(format!(
        "Needs {} at {scope} — you hold {}",
        join_and(&missing),
        roles_held(held, site_name)
    ))
}

/// The permissions of `needs` that `access` lacks at `target`.
fn missing_at(access: &Access, needs: PermissionSet, target: Target<'_>) -> PermissionSet {
    if access.decide_all(needs, target).is_allowed() {
        PermissionSet::EMPTY
    } else {
        needs.difference(access.permissions_at(target))
    }
}

/// The user's roles in one subscription, as a person reads them: "Owner",
/// "Security Reader at Plant North".
pub fn roles_held(held: &[MyAssignment], site_name: &dyn Fn(&SiteId) -> String) -> String {
    if held.is_empty() {
        return "no role here".to_owned();
    }
    let roles: Vec<String> = held
        .iter()
        .map(|assignment| {
            let role = role_name(&assignment.role);
            match (&assignment.site_id, &assignment.reach) {
                (Some(site), _) => format!("{role} at {}", site_name(site)),
                (None, Reach::WholeSubscription) => role,
                (None, Reach::Sites(sites)) => {
                    let names: Vec<String> = sites.iter().map(site_name).collect();
                    if names.is_empty() {
                        format!("{role} at no site")
                    } else {
                        format!("{role} at {}", names.join(", "))
                    }
                }
            }
        })
        .collect();
    join_and(&roles)
}

pub fn role_name(role: &RoleRef) -> String {
    match role {
        RoleRef::BuiltIn(role) => role.display_name().to_owned(),
        RoleRef::Custom(id) => format!("custom role {id}"),
    }
}

fn join_and<T: AsRef<str>>(items: &[T]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use shared::authz::{BuiltInRole, Permission};
    use shared::model::AssignmentId;

    use super::*;

    fn site(id: &str) -> SiteId {
        SiteId::parse(id).unwrap()
    }

    fn held(role: BuiltInRole, at: Option<&str>) -> MyAssignment {
        MyAssignment {
            id: AssignmentId::parse("a1").unwrap(),
            role: role.into(),
            site_id: at.map(site),
            device_group_id: None,
            permissions: role.permissions(),
            reach: match at {
                None => Reach::WholeSubscription,
                Some(id) => Reach::Sites(BTreeSet::from([site(id)])),
            },
        }
    }

    fn access(held: &[MyAssignment]) -> Access {
        Access::from_grants(held.iter().map(MyAssignment::grant))
    }

    fn names(id: &SiteId) -> String {
        match id.as_str() {
            "north" => "Plant North".into(),
            other => other.into(),
        }
    }

    #[test]
    fn an_allowed_action_has_no_reason() {
        let held = [held(BuiltInRole::SecurityAdmin, None)];
        let needs = PermissionSet::from_slice(&[Permission::ModifyAlerts]);
        assert_eq!(
            denial(
                &access(&held),
                &held,
                needs,
                &At::Site(site("north")),
                &names
            ),
            None
        );
    }

    #[test]
    fn a_reader_is_told_the_missing_permission_the_site_and_their_role() {
        let held = [held(BuiltInRole::SecurityReader, None)];
        let needs = PermissionSet::from_slice(&[Permission::ModifyAlerts]);
        assert_eq!(
            denial(
                &access(&held),
                &held,
                needs,
                &At::Site(site("north")),
                &names
            )
            .as_deref(),
            Some("Needs Modify alerts at Plant North — you hold Security Reader")
        );
    }

    #[test]
    fn a_site_owner_is_told_a_subscription_permission_is_not_theirs() {
        let held = [held(BuiltInRole::Owner, Some("north"))];
        let needs = PermissionSet::from_slice(&[Permission::OnboardSensors]);
        assert_eq!(
            denial(&access(&held), &held, needs, &At::Subscription, &names).as_deref(),
            Some("Needs Onboard sensors at subscription scope — you hold Owner at Plant North")
        );
    }

    #[test]
    fn only_the_permissions_lacking_are_named() {
        // Contributor may modify plans but not onboard an Enterprise IoT plan.
        let held = [held(BuiltInRole::Contributor, None)];
        let needs = PermissionSet::from_slice(&[
            Permission::ModifyPlans,
            Permission::OnboardEnterpriseIotPlan,
        ]);
        let reason = denial(&access(&held), &held, needs, &At::Subscription, &names).unwrap();
        assert!(
            reason.starts_with("Needs Onboard an Enterprise IoT plan at"),
            "{reason}"
        );
        assert!(!reason.contains("Modify plans"), "{reason}");
    }

    #[test]
    fn several_roles_are_listed_together() {
        let held = [
            held(BuiltInRole::SecurityReader, None),
            held(BuiltInRole::Contributor, Some("north")),
        ];
        assert_eq!(
            roles_held(&held, &names),
            "Security Reader and Contributor at Plant North"
        );
        assert_eq!(roles_held(&[], &names), "no role here");
    }
}
