//! Reading what a pass over a pool needs: its claims and addresses of both kinds, typed (to
//! write them) and as facts (to decide).

use std::collections::BTreeSet;

use kube::api::ListParams;
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};

use crate::capi;
use crate::context::{Context, Error};
use crate::facts::{self, AddressFacts, ClaimFacts, ClaimKind};

/// The claims and addresses of one pool.
pub struct Observed {
    /// IPClaims naming the pool.
    pub metal3_claims: Vec<IPClaim>,
    /// IPAddressClaims naming the pool.
    pub capi_claims: Vec<capi::IPAddressClaim>,
    /// Facts of every claim, IPClaims first.
    pub claims: Vec<ClaimFacts>,
    /// Facts of every address object of the pool, both kinds.
    pub addresses: Vec<AddressFacts>,
}

impl Observed {
    /// Drops the address objects `gone` (deleted by the pass).
    pub fn without(&mut self, gone: &BTreeSet<(ClaimKind, String)>) {
        self.addresses
            .retain(|a| !gone.contains(&(a.kind, a.name.clone())));
    }
}

/// Lists the addresses and claims of `pool` (in its namespace), in that order and after the
/// pool: every reservation in the pool's status then names a claim that is listed or gone for
/// good, and every address object's claim existed before the object, so a claim missing from
/// the list is truly gone.
pub async fn observe(ctx: &Context, ns: &str, pool: &IPPool) -> Result<Observed, Error> {
    let name = pool.metadata.name.clone().unwrap_or_default();
    let all = ListParams::default();
    let mut addresses: Vec<AddressFacts> = ctx
        .api::<IPAddress>(ns)
        .list(&all)
        .await?
        .items
        .iter()
        .filter(|a| facts::metal3_address_of(a, &name))
        .map(facts::metal3_address)
        .collect();
    if ctx.capi {
        addresses.extend(
            ctx.api::<capi::IPAddress>(ns)
                .list(&all)
                .await?
                .items
                .iter()
                .filter(|a| facts::capi_address_of(a, &name))
                .map(facts::capi_address),
        );
    }
    let metal3_claims: Vec<IPClaim> = ctx
        .api::<IPClaim>(ns)
        .list(&all)
        .await?
        .items
        .into_iter()
        .filter(|c| facts::metal3_claim_of(c, &name))
        .collect();
    let mut claims: Vec<ClaimFacts> = metal3_claims.iter().map(facts::metal3_claim).collect();
    let mut capi_claims = Vec::new();
    if ctx.capi {
        capi_claims = ctx
            .api::<capi::IPAddressClaim>(ns)
            .list(&all)
            .await?
            .items
            .into_iter()
            .filter(|c| facts::capi_claim_of(c, &name))
            .collect();
        claims.extend(capi_claims.iter().map(facts::capi_claim));
    }
    Ok(Observed {
        metal3_claims,
        capi_claims,
        claims,
        addresses,
    })
}
