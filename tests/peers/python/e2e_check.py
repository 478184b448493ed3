"""Run by a null_resource's local-exec inside a tern run: prove, in the run's log, which AWS role
the dynamic credentials assumed (boto3 against moto) and that the Vault token reads a secret
(OpenBao). Prints facts, never the secret itself."""

import hashlib
import json
import os
import sys
import urllib.request

import boto3

arn = boto3.Session().client("sts", region_name="us-east-1").get_caller_identity()["Arn"]
print(f"assumed role: {arn}")

request = urllib.request.Request(
    os.environ["VAULT_ADDR"].rstrip("/") + "/v1/secret/data/app",
    headers={"X-Vault-Token": os.environ["VAULT_TOKEN"]},
)
with urllib.request.urlopen(request) as response:
    password = json.load(response)["data"]["data"]["password"]
digest = hashlib.sha256(password.encode()).hexdigest()[:12]
print(f"read secret/data/app from Vault: password sha256 {digest}")
print(f"runner AWS key visible: {'AWS_ACCESS_KEY_ID' in os.environ}")
sys.stdout.flush()
