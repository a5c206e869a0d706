"""The documented output fields of every endpoint the simulator serves, in the order of the
column maps of KIS's official samples (koreainvestment/open-trading-api,
`examples_llm/domestic_stock/<api>/chk_<api>.py`), so that the simulator answers with KIS's
whole schema, every value a string, not just the fields Quartz reads."""

from __future__ import annotations

INQUIRE_PRICE = (
    "iscd_stat_cls_code marg_rate rprs_mrkt_kor_name new_hgpr_lwpr_cls_code bstp_kor_isnm "
    "temp_stop_yn oprc_rang_cont_yn clpr_rang_cont_yn crdt_able_yn grmn_rate_cls_code "
    "elw_pblc_yn stck_prpr prdy_vrss prdy_vrss_sign prdy_ctrt acml_tr_pbmn acml_vol "
    "prdy_vrss_vol_rate stck_oprc stck_hgpr stck_lwpr stck_mxpr stck_llam stck_sdpr "
    "wghn_avrg_stck_prc hts_frgn_ehrt frgn_ntby_qty pgtr_ntby_qty pvt_scnd_dmrs_prc "
    "pvt_frst_dmrs_prc pvt_pont_val pvt_frst_dmsp_prc pvt_scnd_dmsp_prc dmrs_val dmsp_val "
    "cpfn rstc_wdth_prc stck_fcam stck_sspr aspr_unit hts_deal_qty_unit_val lstn_stcn "
    "hts_avls per pbr stac_month vol_tnrt eps bps d250_hgpr d250_hgpr_date "
    "d250_hgpr_vrss_prpr_rate d250_lwpr d250_lwpr_date d250_lwpr_vrss_prpr_rate "
    "stck_dryy_hgpr dryy_hgpr_vrss_prpr_rate dryy_hgpr_date stck_dryy_lwpr "
    "dryy_lwpr_vrss_prpr_rate dryy_lwpr_date w52_hgpr w52_hgpr_vrss_prpr_ctrt w52_hgpr_date "
    "w52_lwpr w52_lwpr_vrss_prpr_ctrt w52_lwpr_date whol_loan_rmnd_rate ssts_yn "
    "stck_shrn_iscd fcam_cnnm cpfn_cnnm apprch_rate frgn_hldn_qty vi_cls_code "
    "ovtm_vi_cls_code last_ssts_cntg_qty invt_caful_yn mrkt_warn_cls_code short_over_yn "
    "sltr_yn mang_issu_cls_code").split()

CHART_HEAD = (
    "prdy_vrss prdy_vrss_sign prdy_ctrt stck_prdy_clpr acml_vol acml_tr_pbmn hts_kor_isnm "
    "stck_prpr stck_shrn_iscd prdy_vol stck_mxpr stck_llam stck_oprc stck_hgpr stck_lwpr "
    "stck_prdy_oprc stck_prdy_hgpr stck_prdy_lwpr askp bidp prdy_vrss_vol vol_tnrt stck_fcam "
    "lstn_stcn cpfn hts_avls per eps pbr itewhol_loan_rmnd_ratem").split()

CHART_BAR = (
    "stck_bsop_date stck_clpr stck_oprc stck_hgpr stck_lwpr acml_vol acml_tr_pbmn "
    "flng_cls_code prtt_rate mod_yn prdy_vrss_sign prdy_vrss revl_issu_reas").split()

BALANCE_ROW = (
    "pdno prdt_name trad_dvsn_name bfdy_buy_qty bfdy_sll_qty thdt_buyqty thdt_sll_qty "
    "hldg_qty ord_psbl_qty pchs_avg_pric pchs_amt prpr evlu_amt evlu_pfls_amt evlu_pfls_rt "
    "evlu_erng_rt loan_dt loan_amt stln_slng_chgs expd_dt fltt_rt bfdy_cprs_icdc "
    "item_mgna_rt_name grta_rt_name sbst_pric stck_loan_unpr").split()

BALANCE_SUMMARY = (
    "dnca_tot_amt nxdy_excc_amt prvs_rcdl_excc_amt cma_evlu_amt bfdy_buy_amt thdt_buy_amt "
    "nxdy_auto_rdpt_amt bfdy_sll_amt thdt_sll_amt d2_auto_rdpt_amt bfdy_tlex_amt "
    "thdt_tlex_amt tot_loan_amt scts_evlu_amt tot_evlu_amt nass_amt fncg_gld_auto_rdpt_yn "
    "pchs_amt_smtl_amt evlu_amt_smtl_amt evlu_pfls_smtl_amt tot_stln_slng_chgs "
    "bfdy_tot_asst_evlu_amt asst_icdc_amt asst_icdc_erng_rt").split()

PSBL_ORDER = (
    "ord_psbl_cash ord_psbl_sbst ruse_psbl_amt fund_rpch_chgs psbl_qty_calc_unpr "
    "nrcvb_buy_amt nrcvb_buy_qty max_buy_amt max_buy_qty cma_evlu_amt ovrs_re_use_amt_wcrc "
    "ord_psbl_frcr_amt_wcrc").split()

# The samples' column map spells the confirmed-cancel quantity `cnc_cfrm_qty`; KIS's spec
# table `cncl_cfrm_qty`. The simulator sends both (docs/external-apis.md).
DAILY_CCLD_ROW = (
    "ord_dt ord_gno_brno odno orgn_odno ord_dvsn_name sll_buy_dvsn_cd sll_buy_dvsn_cd_name "
    "pdno prdt_name ord_qty ord_unpr ord_tmd tot_ccld_qty avg_prvs cncl_yn tot_ccld_amt "
    "loan_dt ordr_empno ord_dvsn_cd cnc_cfrm_qty cncl_cfrm_qty rmn_qty rjct_qty "
    "ccld_cndt_name inqr_ip_addr cpbc_ordp_ord_rcit_dvsn_cd cpbc_ordp_infm_mthd_dvsn_cd "
    "infm_tmd ctac_tlno prdt_type_cd excg_dvsn_cd cpbc_ordp_mtrl_dvsn_cd ord_orgno "
    "rsvn_ord_end_dt excg_id_dvsn_Cd stpm_cndt_pric stpm_efct_occr_dtmd").split()

DAILY_CCLD_SUMMARY = "tot_ord_qty tot_ccld_qty tot_ccld_amt prsm_tlex_smtl pchs_avg_pric".split()

PSBL_RVSECNCL_ROW = (
    "ord_gno_brno odno orgn_odno ord_dvsn_name pdno prdt_name rvse_cncl_dvsn_name ord_qty "
    "ord_unpr ord_tmd tot_ccld_qty tot_ccld_amt psbl_qty sll_buy_dvsn_cd ord_dvsn_cd "
    "mgco_aptm_odno excg_dvsn_cd excg_id_dvsn_cd excg_id_dvsn_name stpm_cndt_pric "
    "stpm_efct_occr_yn").split()

# Order answers: UPPERCASE on the wire in every KIS example (the order-rvsecncl sample's
# column map is lower case; the client reads either).
ORDER = "KRX_FWDG_ORD_ORGNO ODNO ORD_TMD".split()

SEARCH_INFO = (
    "pdno prdt_type_cd std_pdno shtn_pdno prdt_sale_stat_cd prdt_risk_grad_cd prdt_clsf_cd "
    "sale_strt_dt sale_end_dt wrap_asst_type_cd ivst_prdt_type_cd frst_erlm_dt").split()

# Name endings of text fields (codes, names, flags, dates, times); every other field is a
# number, which KIS sends as "0" when it has none.
_TEXT_ENDINGS = ("_name", "_nm", "name120", "_isnm", "_yn", "_code", "_cd", "_Cd", "_dt",
                 "_date", "_tmd", "_dtmd", "_cnnm", "_addr", "_tlno", "_empno", "_reas",
                 "odno", "pdno", "brno", "orgno", "iscd", "_month")


def blank(name: str) -> str:
    """What KIS sends for a field it has no value for: "" for text, "0" for numbers."""
    return "" if name.endswith(_TEXT_ENDINGS) else "0"


def complete(names: list[str], values: dict[str, str]) -> dict[str, str]:
    """Every documented field in `names`, with `values` over the blanks; extra keys of
    `values` (e.g. the simulator's `sim_data` label) are kept after them."""
    out = {name: values.get(name, blank(name)) for name in names}
    out.update({k: v for k, v in values.items() if k not in out})
    return out
