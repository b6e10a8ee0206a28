# names: every name and URL the deployment derives from the project, region, cluster,
# namespace and repository, in one place, with the inputs checked. No provider: it is
# validated and tested offline (`terraform validate`, `terraform test`; scripts/deploy-check.sh).
terraform {
  required_version = ">= 1.5"
}

variable "project_id" {
  description = "Google Cloud project id."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "project_number" {
  description = "Google Cloud project number (Workload Identity principals name it)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{6,20}$", var.project_number))
    error_message = "project_number is digits."
  }
}

variable "region" {
  description = "Region, e.g. europe-west1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region looks like europe-west1."
  }
}

variable "cluster_name" {
  description = "GKE cluster name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name: at most 40 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of runwire."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label (at most 63 lowercase letters, digits or hyphens)."
  }
}

variable "repository" {
  description = "Artifact Registry repository id."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.repository))
    error_message = "repository: lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "session_key_version" {
  description = "The version of the session-token KMS key control signs with (1 is the one Terraform creates with the key; cloudbuild.yaml's _KMS_KEY_VERSION)."
  type        = number
  default     = 1

  validation {
    condition     = var.session_key_version >= 1 && floor(var.session_key_version) == var.session_key_version
    error_message = "session_key_version is a whole number, 1 or more."
  }
}

locals {
  workload_pool = "${var.project_id}.svc.id.goog"
  # The issuer GKE writes into service-account tokens, and where it publishes their keys.
  issuer = "https://container.googleapis.com/v1/projects/${var.project_id}/locations/${var.region}/clusters/${var.cluster_name}"
}

output "workload_pool" {
  description = "The cluster's Workload Identity pool."
  value       = local.workload_pool
}

output "control_principal" {
  description = "IAM principal of control's Kubernetes service account (Workload Identity Federation for GKE)."
  value       = "principal://iam.googleapis.com/projects/${var.project_number}/locations/global/workloadIdentityPools/${local.workload_pool}/subject/ns/${var.namespace}/sa/runwire-control"
}

output "runner_issuer" {
  description = "control's --runner-issuer (cloudbuild.yaml writes the same into params.env)."
  value       = local.issuer
}

output "runner_jwks_url" {
  description = "control's --runner-jwks-url."
  value       = "${local.issuer}/jwks"
}

output "image_prefix" {
  description = "Where cloudbuild.yaml pushes the images."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${var.repository}"
}

# The KMS key ring is named after the cluster and the key is "session-tokens": kms.tf creates
# them with these names, and cloudbuild.yaml writes the same key version name into the gke
# overlay's params.env from _REGION, _CLUSTER and _KMS_KEY_VERSION.
output "kms_key_ring" {
  description = "Name of the KMS key ring (in the region)."
  value       = var.cluster_name
}

output "session_key_name" {
  description = "Name of the session-token key in the key ring."
  value       = "session-tokens"
}

output "session_key_version" {
  description = "The key version control signs session tokens with: --session-signer kms:<this>."
  value       = "projects/${var.project_id}/locations/${var.region}/keyRings/${var.cluster_name}/cryptoKeys/session-tokens/cryptoKeyVersions/${var.session_key_version}"
}
