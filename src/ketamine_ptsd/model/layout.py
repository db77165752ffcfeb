"""Where each quantity lives in the state, input and parameter vectors.

The equations index these vectors with the integer constants below (numba compiles them
in as constants). Amounts are in mg (norketamine in ketamine-equivalent mg, so mass
balance needs no molar conversion), effect-site concentrations in ng/mL, cascade and
symptom states are dimensionless.
"""

STATE_NAMES = (
    "depot_im_mg", "depot_nasal_mg", "depot_sl_mg", "depot_gut_mg",
    "s_central_mg", "s_periph1_mg", "s_periph2_mg",
    "r_central_mg", "r_periph1_mg", "r_periph2_mg",
    "s_norketamine_mg", "r_norketamine_mg",
    "s_effect_site_ng_ml", "r_effect_site_ng_ml",
    "midazolam_mg", "eliminated_mg",
    "dissociation_tolerance", "dissociation_adaptation",
    "glutamate_adaptation", "mtor", "bdnf", "spine_signal_1", "spine_signal_2",
    "synapses_labile", "synapses_stable",
    "functional_response", "therapy_effect", "expectancy_pending", "expectancy",
    "oral_antidepressant",
)
(
    X_DEP_IM, X_DEP_NASAL, X_DEP_SL, X_DEP_GUT,
    X_S1, X_S2, X_S3,
    X_R1, X_R2, X_R3,
    X_NKS, X_NKR,
    X_CES, X_CER,
    X_MDZ, X_ELIM,
    X_TOL, X_CADSS_ADAPT,
    X_ADAPT, X_MTOR, X_BDNF, X_D1, X_D2,
    X_LABILE, X_STABLE,
    X_FUNC, X_THERAPY, X_EXPECT_PENDING, X_EXPECT,
    X_ORAL_AD,
) = range(len(STATE_NAMES))
N_STATES = len(STATE_NAMES)

#: States that hold ketamine (parent or norketamine, in ketamine-equivalent mg).
KETAMINE_MASS_STATES = (X_DEP_IM, X_DEP_NASAL, X_DEP_SL, X_DEP_GUT, X_S1, X_S2, X_S3,
                        X_R1, X_R2, X_R3, X_NKS, X_NKR, X_ELIM)

INPUT_NAMES = ("iv_rate_mg_h", "gut_rate_mg_h", "midazolam_rate_mg_h", "therapy_intensity", "oral_antidepressant_on")
U_IV, U_GUT, U_MDZ, U_THERAPY, U_ORAL_AD = range(len(INPUT_NAMES))
N_INPUTS = len(INPUT_NAMES)

PK_NAMES = (
    "s_fraction", "cl_s", "v1_s", "q2_s", "v2_s", "q3_s", "v3_s",
    "cl_r", "v1_r", "q2_r", "v2_r", "q3_r", "v3_r",
    "fm_nk", "cl_nk", "v_nk", "ke0", "ka_im", "ka_nasal", "ka_sl", "ka_gut", "f_gut", "fu",
)
MIDAZOLAM_NAMES = ("cl_mdz", "v_mdz", "ec50_sedation")
ACUTE_NAMES = (
    "r_potency", "cadss_max", "cadss_ec50", "cadss_hill", "tolerance_rate", "tolerance_max", "tolerance_tau",
    "cadss_acute_tolerance", "cadss_acute_tau",
    "sbp_emax", "bp_ec50", "dbp_emax", "hr_emax", "nk_opposition", "sedation_midazolam_max",
)
CASCADE_NAMES = (
    "ki_s_ketamine", "ki_r_ketamine", "ki_s_norketamine", "ki_r_norketamine", "nk_brain_ratio",
    "drive_occupancy_half", "drive_hill", "drive_occupancy_block", "drive_block_hill",
    "glutamate_gain", "adaptation_tau", "mtor_tau", "bdnf_tau",
    "spine_delay_tau", "spine_formation_rate", "labile_tau", "stabilisation_rate", "stable_tau",
    "set_point", "plasticity_half",
)
SYMPTOM_NAMES = (
    "functional_tau", "functional_decay_tau", "functional_switch_width", "functional_gain", "structural_gain",
    "sensitivity_b", "sensitivity_c", "sensitivity_d", "sensitivity_e", "sensitivity_depression",
    "response_sensitivity", "expectancy_gain", "expectancy_ptsd_weight", "expectancy_onset_tau", "expectancy_tau",
    "therapy_baseline", "therapy_gain", "therapy_tau",
    "therapy_weight_b", "therapy_weight_c", "therapy_weight_d", "therapy_weight_e",
    "therapy_weight_depression", "session_hours",
    "ptsd_response", "functional_weight_depression", "structural_weight_depression", "stable_weight_ptsd",
    "stable_weight_depression",
    "residual_ptsd", "residual_depression", "oral_ad_gain", "oral_ad_tau", "oral_ad_ptsd_weight",
)
PATIENT_NAMES = (
    "weight_kg", "age_years",
    "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e",
    "caps5_b", "caps5_c", "caps5_d", "caps5_e",
    "madrs", "iesr_intrusion", "iesr_avoidance", "iesr_hyperarousal",
    "sbp_mmhg", "dbp_mmhg", "hr_bpm",
)
PARAM_NAMES = PK_NAMES + MIDAZOLAM_NAMES + ACUTE_NAMES + CASCADE_NAMES + SYMPTOM_NAMES + PATIENT_NAMES
(
    P_S_FRACTION, P_CL_S, P_V1_S, P_Q2_S, P_V2_S, P_Q3_S, P_V3_S,
    P_CL_R, P_V1_R, P_Q2_R, P_V2_R, P_Q3_R, P_V3_R,
    P_FM_NK, P_CL_NK, P_V_NK, P_KE0, P_KA_IM, P_KA_NASAL, P_KA_SL, P_KA_GUT, P_F_GUT, P_FU,
    P_CL_MDZ, P_V_MDZ, P_EC50_SED,
    P_R_POTENCY, P_CADSS_MAX, P_CADSS_EC50, P_CADSS_HILL, P_TOL_RATE, P_TOL_MAX, P_TOL_TAU,
    P_CADSS_ACUTE_TOL, P_CADSS_ACUTE_TAU,
    P_SBP_EMAX, P_BP_EC50, P_DBP_EMAX, P_HR_EMAX, P_NK_OPP, P_SED_MAX,
    P_KI_S, P_KI_R, P_KI_NKS, P_KI_NKR, P_NK_BRAIN,
    P_OCC_HALF, P_DRIVE_HILL, P_OCC_BLOCK, P_BLOCK_HILL, P_GLU_GAIN, P_ADAPT_TAU, P_MTOR_TAU, P_BDNF_TAU,
    P_DELAY_TAU, P_FORM_RATE, P_LABILE_TAU, P_STAB_RATE, P_STABLE_TAU,
    P_SET_POINT, P_PLAST_HALF,
    P_FUNC_TAU, P_FUNC_DECAY_TAU, P_FUNC_SWITCH, P_FUNC_GAIN, P_STRUCT_GAIN,
    P_SENS_B, P_SENS_C, P_SENS_D, P_SENS_E, P_SENS_DEP,
    P_RESP_SENS, P_EXP_GAIN, P_EXP_PTSD, P_EXP_ONSET, P_EXP_TAU,
    P_THER_BASE, P_THER_GAIN, P_THER_TAU,
    P_THW_B, P_THW_C, P_THW_D, P_THW_E, P_THW_DEP, P_SESSION_H,
    P_PTSD_RESP, P_FUNC_W_DEP, P_STRUCT_W_DEP, P_STAB_W_PTSD, P_STAB_W_DEP,
    P_RESID_PTSD, P_RESID_DEP, P_AD_GAIN, P_AD_TAU, P_AD_PTSD,
    P_WEIGHT, P_AGE,
    P_PCL5_B, P_PCL5_C, P_PCL5_D, P_PCL5_E,
    P_CAPS5_B, P_CAPS5_C, P_CAPS5_D, P_CAPS5_E,
    P_MADRS, P_IESR_INT, P_IESR_AVO, P_IESR_HYP,
    P_SBP0, P_DBP0, P_HR0,
) = range(len(PARAM_NAMES))
N_PARAMS = len(PARAM_NAMES)

#: Per-patient constants computed once from the parameters (``derived.derive``) and stored
#: after them in the working vector the equations read, so that a right-hand side call does
#: no division by a parameter and no power of parameters alone.
DERIVED_NAMES = (
    "inv_v1_s", "inv_v2_s", "inv_v3_s", "inv_v1_r", "inv_v2_r", "inv_v3_r",
    "k_nk", "k_mdz", "inv_v_mdz", "nk_ng_ml_per_mg",
    "inv_tolerance_tau", "inv_cadss_ec50",
    "occ_per_ce_s", "occ_per_ce_r", "occ_per_nks", "occ_per_nkr", "inv_drive_occupancy_half",
    "inv_drive_occupancy_block",
    "inv_adaptation_tau", "inv_mtor_tau", "inv_bdnf_tau", "inv_spine_delay_tau",
    "inv_labile_tau", "inv_stable_tau", "inv_room",
    "inv_functional_tau", "inv_therapy_tau", "inv_expectancy_onset_tau", "inv_expectancy_tau",
    "inv_oral_ad_tau", "inv_cadss_acute_tau", "inv_functional_decay_tau",
)
(
    D_INV_V1_S, D_INV_V2_S, D_INV_V3_S, D_INV_V1_R, D_INV_V2_R, D_INV_V3_R,
    D_K_NK, D_K_MDZ, D_INV_V_MDZ, D_NK_NG_ML,
    D_INV_TOL_TAU, D_INV_CADSS_EC50,
    D_OCC_S, D_OCC_R, D_OCC_NKS, D_OCC_NKR, D_INV_OCC_HALF,
    D_INV_OCC_BLOCK,
    D_INV_ADAPT_TAU, D_INV_MTOR_TAU, D_INV_BDNF_TAU, D_INV_DELAY_TAU,
    D_INV_LABILE_TAU, D_INV_STABLE_TAU, D_INV_ROOM,
    D_INV_FUNC_TAU, D_INV_THER_TAU, D_INV_EXP_ONSET, D_INV_EXP_TAU,
    D_INV_AD_TAU, D_INV_CADSS_ACUTE_TAU, D_INV_FUNC_DECAY_TAU,
) = range(N_PARAMS, N_PARAMS + len(DERIVED_NAMES))
#: Length of the working vector: the parameters, then the derived constants.
N_WORK = N_PARAMS + len(DERIVED_NAMES)

OUTPUT_NAMES = (
    "ketamine_ng_ml", "s_ketamine_ng_ml", "r_ketamine_ng_ml", "norketamine_ng_ml",
    "effect_site_ng_ml", "midazolam_ng_ml",
    "nmda_occupancy", "glutamate", "mtor", "bdnf", "synaptic_density", "plasticity",
    "cadss", "sbp_mmhg", "dbp_mmhg", "hr_bpm", "sedation",
    "pcl5_total", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "caps5_total", "madrs", "iesr_total",
)
(
    Y_KET, Y_SKET, Y_RKET, Y_NK, Y_CE, Y_MDZ,
    Y_OCC, Y_GLU, Y_MTOR, Y_BDNF, Y_SYN, Y_PLAST,
    Y_CADSS, Y_SBP, Y_DBP, Y_HR, Y_SED,
    Y_PCL5, Y_PCL5_B, Y_PCL5_C, Y_PCL5_D, Y_PCL5_E, Y_CAPS5, Y_MADRS, Y_IESR,
) = range(len(OUTPUT_NAMES))
N_OUTPUTS = len(OUTPUT_NAMES)

#: Output units, for reports and file metadata.
OUTPUT_UNITS = {
    "ketamine_ng_ml": "ng/mL", "s_ketamine_ng_ml": "ng/mL", "r_ketamine_ng_ml": "ng/mL",
    "norketamine_ng_ml": "ng/mL", "effect_site_ng_ml": "ng/mL", "midazolam_ng_ml": "ng/mL",
    "nmda_occupancy": "fraction", "glutamate": "relative to baseline (1 = baseline)",
    "mtor": "activation above baseline", "bdnf": "synthesis above baseline",
    "synaptic_density": "fraction of healthy density", "plasticity": "0-1",
    "cadss": "CADSS points (0-92)", "sbp_mmhg": "mmHg", "dbp_mmhg": "mmHg", "hr_bpm": "bpm",
    "sedation": "0-1", "pcl5_total": "PCL-5 (0-80)", "pcl5_b": "PCL-5 B (0-20)",
    "pcl5_c": "PCL-5 C (0-8)", "pcl5_d": "PCL-5 D (0-28)", "pcl5_e": "PCL-5 E (0-24)",
    "caps5_total": "CAPS-5 (0-80)", "madrs": "MADRS (0-60)", "iesr_total": "IES-R (0-88)",
}

assert N_PARAMS == P_HR0 + 1 and N_WORK == D_INV_FUNC_DECAY_TAU + 1
assert N_STATES == X_ORAL_AD + 1 and N_OUTPUTS == Y_IESR + 1
