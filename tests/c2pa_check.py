#!/usr/bin/env python3
"""The tests' independent C2PA reader and signer: c2pa-python from PyPI (its own c2pa-rs
build), never packwitness's code.

  c2pa_check.py read TRUST_PEM FILE...   one JSON line per file: validation state, failure
                                         codes, time-stamp, actions, packwitness assertion
  c2pa_check.py sign-ai CHAIN KEY SRC DST  signs SRC as made by a trained model (AI)
"""
import json
import sys

import c2pa


def read(trust, files):
    anchors = open(trust).read()
    settings = c2pa.Settings.from_json(json.dumps(
        {"trust": {"trust_anchors": anchors}, "verify": {"verify_trust": True}}))
    ctx = c2pa.Context(settings)
    for f in files:
        try:
            j = json.loads(c2pa.Reader(f, context=ctx).json())
        except Exception as e:  # no manifest, or unreadable
            print(json.dumps({"file": f, "state": None, "error": str(e)}))
            continue
        m = j["manifests"][j["active_manifest"]]
        out = {"file": f, "state": j.get("validation_state"),
               "codes": [s["code"] for s in j.get("validation_status") or []],
               "time": (m.get("signature_info") or {}).get("time"),
               "signer": (m.get("signature_info") or {}).get("common_name"),
               "ingredients": [i.get("title") for i in m.get("ingredients") or []],
               "actions": [], "evidence": None}
        for a in m.get("assertions", []):
            if a["label"].startswith("c2pa.actions"):
                out["actions"] += [x.get("action") for x in a["data"]["actions"]]
            if a["label"] == "org.packwitness.evidence":
                out["evidence"] = a["data"]
        print(json.dumps(out))


def sign_ai(chain, key, src, dst):
    manifest = {
        "claim_generator_info": [{"name": "test generator", "version": "1"}],
        "title": "generated.jpg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType":
                "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
            "softwareAgent": {"name": "Test Image Model 3"}}]}}],
    }
    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=open(chain, "rb").read(),
                               private_key=open(key, "rb").read(), ta_url=None)
    with c2pa.Builder(json.dumps(manifest)) as b:
        b.sign_file(src, dst, c2pa.Signer.from_info(info))


if __name__ == "__main__":
    if sys.argv[1] == "read":
        read(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "sign-ai":
        sign_ai(*sys.argv[2:6])
    else:
        sys.exit("read or sign-ai")
