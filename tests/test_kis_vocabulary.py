"""Nothing outside the KIS adapter (`kis/`) and the simulator that plays KIS (`sim/`) names a
KIS field, code or TR_ID: agents, the domain and the interface speak the venue-neutral
vocabulary (`Side`, `OrderType`, `OrderReport`, typed broker errors), and `kis/codes.py`
translates both ways. Comments and docstrings included, so the words do not creep back."""

from __future__ import annotations

import re
from pathlib import Path

import quartz_cli

PACKAGE = Path(quartz_cli.__file__).parent
ALLOWED = ("kis", "sim")
# Words a file outside the adapter may still use, and why.
EXEMPT = {
    # The settings' account number keeps the name of its Secret key, HANSEC_INVESTMENT_CANO.
    "config.py": {"cano"},
    # Masking must know the names the broker gives secrets on the wire (query keys, headers).
    "redaction.py": {"cano", "acnt_prdt_cd", "appkey", "appsecret"},
}

# Request and answer fields of the KIS endpoints Quartz calls (from kis/*.py).
FIELDS = """
    rt_cd msg_cd msg1 tr_cont tr_id custtype appkey appsecret hashkey approval_key
    access_token_token_expired
    cano acnt_prdt_cd pdno odno orgn_odno ord_gno_brno krx_fwdg_ord_orgno
    ord_dvsn ord_dvsn_cd ord_dvsn_name ord_qty ord_unpr ord_dt ord_tmd sll_type sll_buy_dvsn_cd
    rvse_cncl_dvsn_cd qty_all_ord_yn excg_id_dvsn_cd ccld_dvsn inqr_dvsn inqr_dvsn_1
    inqr_dvsn_2 inqr_dvsn_3 inqr_strt_dt inqr_end_dt ofl_yn afhr_flpr_yn unpr_dvsn
    fund_sttl_icld_yn fncg_amt_auto_rdpt_yn prcs_dvsn cma_evlu_amt_icld_yn ovrs_icld_yn
    ord_psbl_cash ord_psbl_qty psbl_qty psbl_qty_calc_unpr nrcvb_buy_amt nrcvb_buy_qty
    hldg_qty pchs_avg_pric pchs_amt prpr evlu_amt evlu_pfls_amt evlu_pfls_rt prdt_name
    dnca_tot_amt nxdy_excc_amt prvs_rcdl_excc_amt scts_evlu_amt tot_evlu_amt
    pchs_amt_smtl_amt evlu_pfls_smtl_amt
    tot_ccld_qty tot_ccld_amt avg_prvs rmn_qty rjct_qty cncl_yn cncl_cfrm_qty cnc_cfrm_qty
    stck_prpr stck_oprc stck_hgpr stck_lwpr stck_clpr stck_sdpr stck_mxpr stck_llam
    stck_bsop_date prdy_vrss prdy_ctrt aspr_unit acml_vol acml_tr_pbmn temp_stop_yn
    mrkt_warn_cls_code rprs_mrkt_kor_name bstp_kor_isnm hts_kor_isnm
    fid_cond_mrkt_div_code fid_input_iscd fid_input_date_1 fid_input_date_2
    fid_period_div_code fid_org_adj_prc
""".split()
# TR_IDs (real T…/paper V… and quotation F…/H…), message codes and endpoint names.
CODES = [r"[TV]TTC\d{4}[A-Z]", r"[FH]HKST\d{6,}", r"EGW\d{5}",
         r"(?:APBK|KIOK|OPSQ|IGW)\d{4,5}", r"inquire-[a-z-]+", r"order-(?:cash|rvsecncl)",
         r"uapi/[a-z/-]+"]

PATTERN = re.compile(r"\b(" + "|".join([*map(re.escape, FIELDS), *CODES]) + r")\b",
                     re.IGNORECASE)


def offenders() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ALLOWED:
            continue
        exempt = EXEMPT.get(rel.as_posix(), set())
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in PATTERN.finditer(line):
                if m.group(0).lower() not in exempt:
                    out.append(f"{rel}:{n}: {m.group(0)}")
    return out


def test_the_pattern_finds_kis_words() -> None:
    """The check itself works: it would see the words it forbids."""
    for text in ("row['ord_psbl_cash']", "ODNO", "msg_cd", "VTTC0012U", "EGW00201",
                 "account.cano", "(inquire-balance)"):
        assert PATTERN.search(text), text
    for text in ("HANSEC_INVESTMENT_CANO", "order_no", "cash_krw", "sellable_qty"):
        assert not PATTERN.search(text), text


def test_no_kis_field_or_code_outside_the_adapter_and_the_simulator() -> None:
    found = offenders()
    assert not found, "KIS vocabulary outside kis/ and sim/:\n" + "\n".join(found)
