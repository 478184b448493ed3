"""The command `tern exec` runs in the interop tests, in place of Terraform: it uses the
credentials the way SDKs and providers do, and prints a JSON report (never a secret value).

  aws-identity                    boto3 STS GetCallerIdentity from AWS_ROLE_ARN + token file
  aws-alias-identity TAG          the same through tfc_aws_dynamic_credentials.aliases[TAG]
  gcp-token                       google-auth default credentials, refreshed
  azure-token                     azure-identity WorkloadIdentityCredential.get_token
  vault-read PATH SLEEP OUT       sleep, then read a KV secret with VAULT_TOKEN; write the token to OUT
  vault-backed                    what the Vault-backed hand-off provided
  vault-backed-aliases AWS GCP    the same through the aliases' input variables
  refresh-loop SECONDS            new AWS and Google sessions every 2 s for SECONDS
  sleep SECONDS                   sleep (for timeout and signal tests)
"""

import glob
import json
import os
import ssl
import sys
import time
import urllib.request


def report(**fields):
    print(json.dumps(fields), flush=True)


def tfvars():
    [path] = glob.glob("*.auto.tfvars.json")
    with open(path) as f:
        return json.load(f)


def aws_identity(session):
    sts = session.client("sts", region_name="us-east-1")
    return sts.get_caller_identity()["Arn"]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "aws-identity":
        import boto3
        report(arn=aws_identity(boto3.Session()), runner_key_present="AWS_ACCESS_KEY_ID" in os.environ,
               metadata_disabled=os.environ.get("AWS_EC2_METADATA_DISABLED"),
               session_name=os.environ.get("AWS_ROLE_SESSION_NAME"))
    elif cmd == "aws-alias-identity":
        import boto3
        config = tfvars()["tfc_aws_dynamic_credentials"]["aliases"][args[0]]["shared_config_file"]
        os.environ["AWS_CONFIG_FILE"] = config
        report(arn=aws_identity(boto3.Session(profile_name="default")), implicit_role=os.environ.get("AWS_ROLE_ARN"))
    elif cmd == "gcp-token":
        import google.auth
        import google.auth.transport.requests
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())
        report(type=type(credentials).__name__, token_is_service_account_token=credentials.token == "gcp-service-account-token")
    elif cmd == "azure-token":
        from azure.identity import WorkloadIdentityCredential
        token = WorkloadIdentityCredential().get_token("https://management.azure.com/.default")
        report(token_ok=token.token == "azure-access-token", use_oidc=os.environ.get("ARM_USE_OIDC"),
               arm_client_id=os.environ.get("ARM_CLIENT_ID"))
    elif cmd == "vault-read":
        path, pause, out = args[0], float(args[1]), args[2]
        time.sleep(pause)
        with open(out, "w") as f:
            f.write(os.environ["VAULT_TOKEN"])
        headers = {"X-Vault-Token": os.environ["VAULT_TOKEN"]}
        if os.environ.get("VAULT_NAMESPACE"):
            headers["X-Vault-Namespace"] = os.environ["VAULT_NAMESPACE"]
        request = urllib.request.Request(f"{os.environ['VAULT_ADDR']}/v1/{path}", headers=headers)
        context = ssl.create_default_context(cafile=os.environ["VAULT_CACERT"]) if os.environ.get("VAULT_CACERT") else None
        with urllib.request.urlopen(request, context=context) as r:
            data = json.load(r)["data"]["data"]
        report(keys=sorted(data), addr=os.environ["VAULT_ADDR"], namespace=os.environ.get("VAULT_NAMESPACE"),
               cacert=bool(os.environ.get("VAULT_CACERT")))
    elif cmd == "vault-backed":
        credentials = open(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).read()
        report(aws_credentials=credentials.splitlines(),
               gcp_access_token=os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN"),
               arm_client_id=os.environ.get("ARM_CLIENT_ID"),
               arm_client_secret_set=bool(os.environ.get("ARM_CLIENT_SECRET")))
    elif cmd == "vault-backed-aliases":
        variables = tfvars()
        aws = variables["tfc_vault_backed_aws_dynamic_credentials"]["aliases"][args[0]]["shared_credentials_file"]
        gcp = variables["tfc_vault_backed_gcp_dynamic_credentials"]["aliases"][args[1]]["credentials"]
        report(aws_credentials=open(aws).read().splitlines(), gcp_key_type=json.load(open(gcp))["type"],
               implicit_aws=os.environ.get("AWS_SHARED_CREDENTIALS_FILE"))
    elif cmd == "refresh-loop":
        import boto3
        import google.auth
        import google.auth.transport.requests
        deadline = time.time() + float(args[0])
        rounds = 0
        while time.time() < deadline:
            boto3.Session().get_credentials().get_frozen_credentials()
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            credentials.refresh(google.auth.transport.requests.Request())
            rounds += 1
            time.sleep(2)
        report(rounds=rounds)
    elif cmd == "sleep":
        time.sleep(float(args[0]))
        report(slept=True)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
