//! How long an authorization takes for a principal with 50 assignments: one
//! subscription-wide Security Reader plus 49 site-scope Security Admin assignments, on
//! sites with ULID-like ids (26 characters, as the server generates them).
//!
//! `cargo bench -p shared`

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::authz::{
    Access, BuiltInRole, Grant, Permission, Principal, PrincipalRef, RoleAssignment, Scope,
    SubscriptionDirectory, Target,
};
use shared::model::{AssignmentId, Email, SiteId};

const ASSIGNMENTS: usize = 50;

fn site(index: usize) -> SiteId {
    // Same time prefix, different tails: the worst case for a string comparison.
    SiteId::parse(format!("01HZX3M8Q4V7K2{index:012}")).unwrap()
}

fn assignments(principal: &str) -> Vec<RoleAssignment> {
    (0..ASSIGNMENTS)
        .map(|index| RoleAssignment {
            id: AssignmentId::parse(format!("assignment-{index}")).unwrap(),
            principal: PrincipalRef::parse(principal).unwrap(),
            role: if index == 0 {
                BuiltInRole::SecurityReader.into()
            } else {
                BuiltInRole::SecurityAdmin.into()
            },
            scope: if index == 0 {
                Scope::Subscription
            } else {
                Scope::Site(site(index))
            },
        })
        .collect()
}

fn grants() -> Vec<Grant> {
    let directory = SubscriptionDirectory::default();
    assignments("ana@example.com")
        .iter()
        .map(|assignment| directory.grant(assignment))
        .collect()
}

fn decisions(c: &mut Criterion) {
    let access = Access::from_grants(grants());
    let assigned_site = site(ASSIGNMENTS / 2);
    let unassigned_site = site(ASSIGNMENTS + 7);

    c.bench_function("decide/subscription target (50 assignments)", |b| {
        b.iter(|| access.decide(black_box(Permission::ViewPlans), Target::Subscription))
    });
    c.bench_function(
        "decide/site target, site-scope grant (50 assignments)",
        |b| {
            b.iter(|| {
                access.decide(
                    black_box(Permission::ModifyAlerts),
                    Target::Site(black_box(&assigned_site)),
                )
            })
        },
    );
    c.bench_function(
        "decide/site target, subscription-wide grant (50 assignments)",
        |b| {
            b.iter(|| {
                access.decide(
                    black_box(Permission::ViewAlerts),
                    Target::Site(black_box(&assigned_site)),
                )
            })
        },
    );
    c.bench_function("decide/site target, denied (50 assignments)", |b| {
        b.iter(|| {
            access.decide(
                black_box(Permission::ModifyAlerts),
                Target::Site(black_box(&unassigned_site)),
            )
        })
    });
    c.bench_function("sites_with/49 sites (50 assignments)", |b| {
        b.iter(|| access.sites_with(black_box(Permission::ModifyAlerts)))
    });
}

fn folding(c: &mut Criterion) {
    let principal = Principal {
        email: Email::parse("ana@example.com").unwrap(),
        groups: BTreeSet::new(),
    };
    let assignments = assignments("ana@example.com");
    let directory = SubscriptionDirectory::default();
    c.bench_function("Access::for_principal/50 assignments", |b| {
        b.iter(|| Access::for_principal(black_box(&principal), black_box(&assignments), &directory))
    });
}

criterion_group!(benches, decisions, folding);
criterion_main!(benches);
