# Session tokens signed by Cloud KMS (RS256): the private key never leaves KMS, every
# control replica signs with it and publishes its public half, so any replica verifies any
# replica's tokens. Control reaches KMS with its pod's Workload Identity.
resource "google_kms_key_ring" "runwire" {
  name       = var.cluster_name
  location   = var.region
  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "session" {
  name     = "session-tokens"
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

# asymmetricSign, and getPublicKey to publish the key: two narrow roles, not the
# signerVerifier or admin roles.
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
