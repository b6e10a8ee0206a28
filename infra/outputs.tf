output "cluster" {
  description = "_CLUSTER for cloudbuild.yaml."
  value       = google_container_cluster.runwire.name
}

output "region" {
  description = "_REGION for cloudbuild.yaml."
  value       = var.region
}

output "repository" {
  description = "_REPO for cloudbuild.yaml."
  value       = google_artifact_registry_repository.runwire.repository_id
}

output "namespace" {
  description = "_NAMESPACE for cloudbuild.yaml."
  value       = var.namespace
}

output "ingress_ip" {
  description = "Point the domain's A record here (the Ingress uses this address)."
  value       = google_compute_global_address.runwire.address
}

output "deployer_service_account" {
  description = "Pass to gcloud builds submit --service-account."
  value       = google_service_account.deployer.id
}

output "session_key" {
  description = "The Cloud KMS key for session tokens (its versions sign; docs/deploy.md)."
  value       = google_kms_crypto_key.session.id
}

output "session_key_version" {
  description = "The key version control signs session tokens with (--session-signer kms:<this>); cloudbuild.yaml writes the same from _REGION, _CLUSTER and _KMS_KEY_VERSION."
  value       = module.names.session_key_version
}

output "redis_host" {
  description = "Memorystore address inside the VPC."
  value       = "${google_redis_instance.runwire.host}:${google_redis_instance.runwire.port}"
}

output "build_source_bucket" {
  description = "Pass gs://BUCKET/source to gcloud builds submit --gcs-source-staging-dir."
  value       = google_storage_bucket.build_source.name
}

output "runner_issuer" {
  description = "The issuer of runner tokens (control's --runner-issuer; cloudbuild.yaml derives the same)."
  value       = module.names.runner_issuer
}

output "image_prefix" {
  description = "Where cloudbuild.yaml pushes the images."
  value       = module.names.image_prefix
}
