# terraform test (offline: the module uses no provider). Run by scripts/deploy-check.sh.

variables {
  project_id     = "acme-runwire"
  project_number = "123456789012"
  region         = "europe-west1"
  cluster_name   = "runwire"
  namespace      = "runwire"
  repository     = "runwire"
}

run "derived_names" {
  command = plan

  assert {
    condition     = output.runner_issuer == "https://container.googleapis.com/v1/projects/acme-runwire/locations/europe-west1/clusters/runwire"
    error_message = "runner_issuer is not GKE's issuer"
  }
  assert {
    condition     = output.runner_jwks_url == "https://container.googleapis.com/v1/projects/acme-runwire/locations/europe-west1/clusters/runwire/jwks"
    error_message = "runner_jwks_url is not the issuer's /jwks"
  }
  assert {
    condition     = output.control_principal == "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-runwire.svc.id.goog/subject/ns/runwire/sa/runwire-control"
    error_message = "control_principal does not name control's service account"
  }
  assert {
    condition     = output.image_prefix == "europe-west1-docker.pkg.dev/acme-runwire/runwire"
    error_message = "image_prefix is not the Artifact Registry path"
  }
  # The same string cloudbuild.yaml writes (tests/deploy/cloudbuild_check.py pins its form).
  assert {
    condition     = output.session_key_version == "projects/acme-runwire/locations/europe-west1/keyRings/runwire/cryptoKeys/session-tokens/cryptoKeyVersions/1"
    error_message = "session_key_version is not the first version of the session-token key"
  }
}

run "rotated_key_version" {
  command = plan
  variables {
    session_key_version = 2
    cluster_name        = "fleet-b"
  }
  assert {
    condition     = output.session_key_version == "projects/acme-runwire/locations/europe-west1/keyRings/fleet-b/cryptoKeys/session-tokens/cryptoKeyVersions/2"
    error_message = "the key version or the key ring does not reach session_key_version"
  }
}

run "another_namespace" {
  command = plan
  variables {
    namespace = "team-a"
  }
  assert {
    condition     = endswith(output.control_principal, "/subject/ns/team-a/sa/runwire-control")
    error_message = "the namespace does not reach the principal"
  }
}

# Hostile inputs: each must be refused by its validation.
run "namespace_not_a_dns_label" {
  command = plan
  variables {
    namespace = "Team_A"
  }
  expect_failures = [var.namespace]
}

run "namespace_64_characters" {
  command = plan
  variables {
    namespace = "a234567890123456789012345678901234567890123456789012345678901234"
  }
  expect_failures = [var.namespace]
}

run "namespace_63_characters" {
  command = plan
  variables {
    namespace = "a23456789012345678901234567890123456789012345678901234567890123"
  }
}

run "project_id_uppercase" {
  command = plan
  variables {
    project_id = "Acme-Runwire"
  }
  expect_failures = [var.project_id]
}

run "project_number_not_digits" {
  command = plan
  variables {
    project_number = "acme"
  }
  expect_failures = [var.project_number]
}

run "region_garbage" {
  command = plan
  variables {
    region = "europe west1"
  }
  expect_failures = [var.region]
}

run "cluster_name_41_characters" {
  command = plan
  variables {
    cluster_name = "a2345678901234567890123456789012345678901"
  }
  expect_failures = [var.cluster_name]
}

run "repository_with_slash" {
  command = plan
  variables {
    repository = "run/wire"
  }
  expect_failures = [var.repository]
}

run "session_key_version_0" {
  command = plan
  variables {
    session_key_version = 0
  }
  expect_failures = [var.session_key_version]
}

run "session_key_version_fraction" {
  command = plan
  variables {
    session_key_version = 1.5
  }
  expect_failures = [var.session_key_version]
}
