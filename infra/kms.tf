# Session tokens signed by Cloud KMS (RS256): the private key never leaves KMS, every
# control replica signs with it and publishes its public half, so any replica verifies any
# replica's tokens. Control reaches KMS with its pod's Workload Identity: the grants below
# name its Kubernetes service account directly (Workload Identity Federation for GKE), so
# there is no Google service account to impersonate and no annotation to keep in step.
# The gke overlay runs control with --session-signer kms:<output session_key_version>
# (cloudbuild.yaml derives the same name; docs/deploy.md).
resource "google_kms_key_ring" "runwire" {
  name       = module.names.kms_key_ring
  location   = var.region
  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "session" {
  name     = module.names.session_key_name
  key_ring = google_kms_key_ring.runwire.id
  purpose  = "ASYMMETRIC_SIGN"

  version_template {
    algorithm        = "RSA_SIGN_PKCS1_2048_SHA256"
    protection_level = "SOFTWARE"
  }

  lifecycle {
    prevent_destroy = true
  }
}

# asymmetricSign, and getPublicKey to publish the key: two narrow roles on this key only
# (together cloudkms.cryptoKeyVersions.useToSign and viewPublicKey, what signerVerifier
# grants minus useToVerify, which control never calls), not the admin role.
resource "google_kms_crypto_key_iam_member" "control_sign" {
  crypto_key_id = google_kms_crypto_key.session.id
  role          = "roles/cloudkms.signer"
  member        = local.control_principal
}

resource "google_kms_crypto_key_iam_member" "control_public_key" {
  crypto_key_id = google_kms_crypto_key.session.id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = local.control_principal
}
