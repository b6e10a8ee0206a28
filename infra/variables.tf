variable "project_id" {
  description = "Google Cloud project that holds everything (also the Firebase project users sign in with)."
  type        = string
}

variable "region" {
  description = "Region of the cluster, the registry, Redis and the KMS key ring (the _REGION of cloudbuild.yaml)."
  type        = string
  default     = "europe-west1"
}

variable "cluster_name" {
  description = "GKE Autopilot cluster name (the _CLUSTER of cloudbuild.yaml)."
  type        = string
  default     = "runwire"
}

variable "namespace" {
  description = "Kubernetes namespace runwire runs in (the _NAMESPACE of cloudbuild.yaml); IAM grants name its service accounts."
  type        = string
  default     = "runwire"
}

variable "repository" {
  description = "Artifact Registry repository for the two images (the _REPO of cloudbuild.yaml)."
  type        = string
  default     = "runwire"
}

variable "session_key_version" {
  description = "Version of the session-token KMS key control signs with (the _KMS_KEY_VERSION of cloudbuild.yaml; 1 is created with the key; docs/deploy.md, rotation)."
  type        = number
  default     = 1
}

variable "release_channel" {
  description = "GKE release channel: the cluster and its nodes follow it."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel is RAPID, REGULAR or STABLE."
  }
}

variable "redis_memory_gb" {
  description = "Memorystore capacity in GiB (sessions, queue, scrollback streams; docs/deploy.md)."
  type        = number
  default     = 5
}

variable "redis_tier" {
  description = "STANDARD_HA (a replica in another zone, automatic failover) or BASIC (one node)."
  type        = string
  default     = "STANDARD_HA"

  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.redis_tier)
    error_message = "redis_tier is BASIC or STANDARD_HA."
  }
}

variable "redis_tls" {
  description = "In-transit encryption to Memorystore. Off until control's Redis client speaks TLS (Debian 12's hiredis 0.14 does not); the AUTH password is always on."
  type        = bool
  default     = false
}

variable "keda_version" {
  description = "KEDA Helm chart version: 2.19 or later (the accurate strategy's over-creation fix, docs/deploy.md)."
  type        = string
  default     = "2.19.0"

  validation {
    condition     = tonumber(split(".", var.keda_version)[0]) > 2 || (tonumber(split(".", var.keda_version)[0]) == 2 && tonumber(split(".", var.keda_version)[1]) >= 19)
    error_message = "keda_version must be 2.19 or later."
  }
}

variable "armor_rate_limit_per_minute" {
  description = "Requests per minute from one client address before Cloud Armor bans it for armor_ban_seconds."
  type        = number
  default     = 600
}

variable "armor_api_rate_limit_per_minute" {
  description = "Requests per minute from one client address to /api/ before Cloud Armor answers 429."
  type        = number
  default     = 120
}

variable "armor_ban_seconds" {
  description = "How long a client over armor_rate_limit_per_minute stays banned."
  type        = number
  default     = 600
}

variable "firebase_api_key" {
  description = "The Firebase web API key the browser page signs in with (Firebase console, project settings; not a secret, kept in Secret Manager beside the others for cloudbuild.yaml)."
  type        = string

  validation {
    condition     = length(var.firebase_api_key) > 0
    error_message = "firebase_api_key is the web API key of the project's Firebase web app."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the cluster (set false only to tear everything down)."
  type        = bool
  default     = true
}
