# What control needs at run time, kept in Secret Manager; cloudbuild.yaml reads these
# (availableSecrets) and writes them into Kubernetes Secrets of the namespace, so no secret
# is ever in the repository or in a kustomize overlay. They are also in the Terraform state:
# keep the state in a bucket only operators can read (docs/deploy.md). No session secret:
# on GKE control signs session tokens with Cloud KMS (kms.tf).
resource "random_password" "internal_token" {
  length  = 48
  special = false
}

locals {
  secrets = {
    "runwire-redis-url"        = "redis://${google_redis_instance.runwire.host}:${google_redis_instance.runwire.port}"
    "runwire-redis-password"   = google_redis_instance.runwire.auth_string
    "runwire-internal-token"   = random_password.internal_token.result
    "runwire-firebase-api-key" = var.firebase_api_key
  }
}

resource "google_secret_manager_secret" "runwire" {
  for_each  = toset(keys(local.secrets))
  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "runwire" {
  for_each    = toset(keys(local.secrets))
  secret      = google_secret_manager_secret.runwire[each.value].id
  secret_data = local.secrets[each.value]
}

resource "google_secret_manager_secret_iam_member" "deployer" {
  for_each  = toset(keys(local.secrets))
  secret_id = google_secret_manager_secret.runwire[each.value].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.deployer.email}"
}
