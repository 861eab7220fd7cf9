"""The MPO family itself as a registry entry (its parameters are MPOParams, not floats)."""
from search_spaces.mpo import mpo_loss
from search_spaces.spec import LossSpec

MPO_SPEC = LossSpec(
    name="mpo",
    fn=mpo_loss,
    family="mpo",
    defaults={},
    ranges={},
    formula="scale*[g(z) + h_w(r_w) + h_l(r_l)] + w_sft*NLL(y_w), r = beta*(m(s_pi) - c_ref*m(s_ref)), "
    "z = r_w - r_l - gamma + alpha*(n_w - n_l), s = n^-lam * sum log p",
    citation="Alfano, Sapora, Foerster, Rebeschini, Teh 2025, Meta-Learning Objectives for Preference "
    "Optimization (Mirror PO), arXiv 2411.06568; "
    "parameterization of this project (README, 'Mirror Preference Optimization family')",
    notes="Parameters are MPOParams (search_spaces.mpo); zoo points via search_spaces.points.mpo_point.",
)
