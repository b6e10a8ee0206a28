// firebase-auth.js: Firebase sign-in (Google, email and password), loaded only when control
// is configured for it. With "emulator" in the config the page uses the Firebase Auth
// emulator at that address (development only: control refuses it on a public address).
import { initializeApp } from 'firebase/app';
import {
  getAuth, connectAuthEmulator, onAuthStateChanged, signInWithPopup, GoogleAuthProvider,
  signInWithEmailAndPassword, createUserWithEmailAndPassword, signOut, inMemoryPersistence,
  browserLocalPersistence, setPersistence,
} from 'firebase/auth';

export async function startFirebase(cfg, onChange) {
  const app = initializeApp({
    apiKey: cfg.apiKey || 'fake-api-key',
    authDomain: cfg.authDomain || `${cfg.projectId}.firebaseapp.com`,
    projectId: cfg.projectId,
  });
  const auth = getAuth(app);
  if (cfg.emulator) connectAuthEmulator(auth, `http://${cfg.emulator}`, { disableWarnings: true });
  try {
    await setPersistence(auth, browserLocalPersistence);
  } catch {
    await setPersistence(auth, inMemoryPersistence);
  }
  await new Promise((resolve) => {
    let first = true;
    onAuthStateChanged(auth, (user) => {
      onChange(user ? { uid: user.uid, email: user.email, name: user.displayName } : null);
      if (first) {
        first = false;
        resolve();
      }
    });
  });
  return {
    emulator: !!cfg.emulator,
    user: () => auth.currentUser,
    idToken: () => (auth.currentUser ? auth.currentUser.getIdToken() : Promise.resolve(null)),
    signInGoogle: () => signInWithPopup(auth, new GoogleAuthProvider()),
    signInEmail: (email, password) => signInWithEmailAndPassword(auth, email, password),
    signUpEmail: (email, password) => createUserWithEmailAndPassword(auth, email, password),
    signOut: () => signOut(auth),
  };
}
