terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

# KEDA is installed into the new cluster in the same apply: the Helm provider talks to the
# cluster's endpoint with the caller's own access token.
provider "helm" {
  kubernetes {
    host                   = "https://${google_container_cluster.runwire.endpoint}"
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = base64decode(google_container_cluster.runwire.master_auth[0].cluster_ca_certificate)
  }
}
