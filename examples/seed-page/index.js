//Client-side

//Address of the server
// (The seed hard-codes "http://localhost:3000". This page is served by the
// server it talks to, so it connects to whichever address served it: with
// PORT=8080 that is http://localhost:8080, and a page opened as
// http://127.0.0.1:3000 is not sent to "localhost", another origin.)
const socket = io(location.origin);

// socket.on("connect", (response) => {
//   console.log("Response : ", response);
// });

socket.on("connect", () => {});

//Receving the server message
socket.on("message", (err, data) => {
  if (err) {
    console.log(err);
  } else {
    console.log("Message from the server : ", data);
  }
});

//Reveving the server message
//Here, "server-message" is an event-key which should be equal as server event-key.
socket.on("server-message", (err, data) => {
  if (err) {
    console.log(err);
  } else {
    console.log("Message from the server : ", data);
  }
});

//Emiting message from client to the server
socket.emit("client-message", "Hello there! My name is Laxman");
