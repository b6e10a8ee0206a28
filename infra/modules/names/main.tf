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
